package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

type rolloutJSON struct {
	ID          string             `json:"id"`
	Template    string             `json:"template"`
	Version     string             `json:"version"`
	Filter      envs.RolloutFilter `json:"filter"`
	WaveSize    int                `json:"wave_size"`
	Concurrency int                `json:"concurrency"`
	Status      string             `json:"status"` // running, paused, done, cancelled
	Reason      string             `json:"reason,omitempty"`
	CreatedBy   string             `json:"created_by"`
	CreatedAt   time.Time          `json:"created_at"`
	UpdatedAt   time.Time          `json:"updated_at"`
	FinishedAt  *time.Time         `json:"finished_at,omitempty"`
	Items       []rolloutItemJSON  `json:"items,omitempty"`
}

type rolloutItemJSON struct {
	EnvironmentID string     `json:"environment_id"`
	FromVersion   string     `json:"from_version"`
	Wave          int        `json:"wave"`
	State         string     `json:"state"` // pending, running, done, failed, skipped
	Reason        string     `json:"reason,omitempty"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
}

func toRolloutJSON(r *envs.Rollout) rolloutJSON {
	out := rolloutJSON{ID: r.ID, Template: r.Template, Version: r.Version, Filter: r.Filter, WaveSize: r.WaveSize,
		Concurrency: r.Concurrency, Status: r.Status, Reason: r.Reason, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt,
		UpdatedAt: r.UpdatedAt, FinishedAt: r.FinishedAt}
	for _, it := range r.Items {
		out.Items = append(out.Items, rolloutItemJSON{EnvironmentID: it.EnvironmentID, FromVersion: it.FromVersion, Wave: it.Wave,
			State: it.State, Reason: it.Reason, StartedAt: it.StartedAt, FinishedAt: it.FinishedAt})
	}
	return out
}

// apiRolloutStart is POST /api/v1/templates/{name}/rollouts
// {"version","filter":{"kind","team","label":[],"status":[]},"wave_size","concurrency"} -> 201.
func (h *Handler) apiRolloutStart(c *echo.Context) error {
	var req struct {
		Version     string             `json:"version"`
		Filter      envs.RolloutFilter `json:"filter"`
		WaveSize    int                `json:"wave_size"`
		Concurrency int                `json:"concurrency"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ro, err := h.svc.StartRollout(c.Request().Context(), actorOf(c), envs.RolloutRequest{Template: c.Param("name"),
		Version: req.Version, Filter: req.Filter, WaveSize: req.WaveSize, Concurrency: req.Concurrency})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/templates/"+ro.Template+"/rollouts/"+ro.ID)
	return c.JSON(http.StatusCreated, toRolloutJSON(ro))
}

// apiRolloutList is GET /api/v1/templates/{name}/rollouts, newest first.
func (h *Handler) apiRolloutList(c *echo.Context) error {
	list, err := h.svc.Rollouts(c.Request().Context(), c.Param("name"))
	if err != nil {
		return err
	}
	out := listJSON[rolloutJSON]{Items: []rolloutJSON{}}
	for _, r := range list {
		out.Items = append(out.Items, toRolloutJSON(r))
	}
	return c.JSON(http.StatusOK, out)
}

// apiRolloutShow is GET /api/v1/templates/{name}/rollouts/{id}, with its items.
func (h *Handler) apiRolloutShow(c *echo.Context) error {
	ro, err := h.svc.GetRollout(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if ro.Template != c.Param("name") {
		return envs.Errorf(envs.ENotFound, "rollout %q of template %s does not exist", c.Param("id"), c.Param("name"))
	}
	return c.JSON(http.StatusOK, toRolloutJSON(ro))
}

// apiRolloutResume is POST .../rollouts/{id}/resume; apiRolloutCancel
// .../cancel.
func (h *Handler) apiRolloutResume(c *echo.Context) error {
	ro, err := h.svc.ResumeRollout(c.Request().Context(), actorOf(c), c.Param("name"), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toRolloutJSON(ro))
}

func (h *Handler) apiRolloutCancel(c *echo.Context) error {
	ro, err := h.svc.CancelRollout(c.Request().Context(), actorOf(c), c.Param("name"), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toRolloutJSON(ro))
}
