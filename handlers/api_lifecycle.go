package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

// lifecycleJSON is GET /api/v1/environments/{id}/lifecycle: its last
// activity, inactivity deadline and schedule.
type lifecycleJSON struct {
	LastActiveAt  time.Time     `json:"last_active_at"`
	LastActiveVia string        `json:"last_active_via"`
	Idle          string        `json:"idle,omitempty"`       // the inactivity policy; absent: none
	IdleUntil     *time.Time    `json:"idle_until,omitempty"` // destroyed then unless used
	IdleWarnedAt  *time.Time    `json:"idle_warned_at,omitempty"`
	Schedule      *scheduleJSON `json:"schedule,omitempty"` // the one it follows; absent: none
	// ScheduleFrom is "environment" or "team"; Override the environment's
	// own setting: "" (the team's), "off", "custom".
	ScheduleFrom string     `json:"schedule_from,omitempty"`
	Override     string     `json:"override"`
	StopAt       *time.Time `json:"stop_at,omitempty"`
	StoppedAt    *time.Time `json:"stopped_at,omitempty"`
	StartAt      *time.Time `json:"start_at,omitempty"`
	RelaunchedAs string     `json:"relaunched_as,omitempty"`
}

type scheduleJSON struct {
	Mode  string `json:"mode,omitempty"` // in requests: team, off, custom
	Stop  string `json:"stop,omitempty"`
	Start string `json:"start,omitempty"`
	TZ    string `json:"tz,omitempty"`
}

func newLifecycleJSON(l *envs.Lifecycle) lifecycleJSON {
	if l == nil {
		return lifecycleJSON{}
	}
	j := lifecycleJSON{LastActiveAt: l.LastActiveAt, LastActiveVia: l.LastActiveVia, IdleUntil: l.IdleUntil,
		IdleWarnedAt: l.IdleWarnedAt, ScheduleFrom: l.ScheduleFrom, Override: l.Override,
		StopAt: l.StopAt, StoppedAt: l.StoppedAt, StartAt: l.StartAt, RelaunchedAs: l.RelaunchedAs}
	if l.Idle > 0 {
		j.Idle = envs.FormatDuration(l.Idle)
	}
	if l.Schedule != nil {
		j.Schedule = &scheduleJSON{Stop: l.Schedule.Stop, Start: l.Schedule.Start, TZ: l.Schedule.TZ}
	}
	return j
}

// apiEnvironmentLifecycle is GET /api/v1/environments/{id}/lifecycle.
func (h *Handler) apiEnvironmentLifecycle(c *echo.Context) error {
	l, err := h.svc.EnvironmentLifecycle(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newLifecycleJSON(l))
}

// apiEnvironmentSchedule is PUT /api/v1/environments/{id}/schedule
// {"mode":"custom","stop":"0 19 * * MON-FRI","start":"0 8 * * MON-FRI","tz":"Europe/Paris"}
// (or {"mode":"team"}, {"mode":"off"}); it answers with the lifecycle.
func (h *Handler) apiEnvironmentSchedule(c *echo.Context) error {
	var req scheduleJSON
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	id := c.Param("id")
	if err := h.svc.SetEnvironmentSchedule(ctx, actorOf(c), id, envs.ScheduleRequest{Mode: req.Mode, Stop: req.Stop, Start: req.Start, TZ: req.TZ}); err != nil {
		return err
	}
	l, err := h.svc.EnvironmentLifecycle(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newLifecycleJSON(l))
}

// apiTeamSchedule is GET /api/v1/teams/{team}/schedule (404: none).
func (h *Handler) apiTeamSchedule(c *echo.Context) error {
	s, err := h.svc.TeamSchedule(c.Request().Context(), c.Param("team"))
	if err != nil {
		return err
	}
	if s == nil {
		return envs.Errorf(envs.ENotFound, "team %q has no schedule", c.Param("team"))
	}
	return c.JSON(http.StatusOK, scheduleJSON{Stop: s.Stop, Start: s.Start, TZ: s.TZ})
}

// apiTeamScheduleSet is PUT /api/v1/teams/{team}/schedule {"stop","start","tz"}
// (mode "off" removes it); DELETE removes it too.
func (h *Handler) apiTeamScheduleSet(c *echo.Context) error {
	req := scheduleJSON{Mode: "off"}
	if c.Request().Method != http.MethodDelete {
		req = scheduleJSON{}
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
		if req.Mode == "" {
			req.Mode = "custom"
		}
	}
	team := c.Param("team")
	if err := h.svc.SetTeamSchedule(c.Request().Context(), actorOf(c), team, envs.ScheduleRequest{Mode: req.Mode, Stop: req.Stop, Start: req.Start, TZ: req.TZ}); err != nil {
		return err
	}
	if req.Mode != "custom" {
		return c.NoContent(http.StatusNoContent)
	}
	return h.apiTeamSchedule(c)
}
