package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// environmentSchedule is the environment page's working-hours form: the
// team's, none, or its own.
func (h *Handler) environmentSchedule(c *echo.Context) error {
	id := c.Param("id")
	err := h.svc.SetEnvironmentSchedule(c.Request().Context(), actorOf(c), id, scheduleForm(c))
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/environments/"+url.PathEscape(id))
}

// teamScheduleShow is a team's default working hours.
func (h *Handler) teamScheduleShow(c *echo.Context) error {
	team := c.Param("team")
	sched, err := h.svc.TeamSchedule(c.Request().Context(), team)
	if err != nil {
		return err
	}
	p := h.page(c, "Team "+team, "environments")
	v := web.TeamScheduleView{Team: team, URL: "/teams/" + url.PathEscape(team) + "/schedule", CSRFToken: p.CSRFToken, Flash: c.QueryParam("saved")}
	if sched != nil {
		v.Set, v.Stop, v.Start, v.TZ = true, sched.Stop, sched.Start, sched.TZ
	}
	return render(c, http.StatusOK, web.TeamSchedulePage(p, v))
}

// teamScheduleSave sets or removes a team's default working hours.
func (h *Handler) teamScheduleSave(c *echo.Context) error {
	team := c.Param("team")
	if err := h.svc.SetTeamSchedule(c.Request().Context(), actorOf(c), team, scheduleForm(c)); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/teams/"+url.PathEscape(team)+"/schedule?saved="+url.QueryEscape("Schedule saved"))
}

func scheduleForm(c *echo.Context) envs.ScheduleRequest {
	return envs.ScheduleRequest{Mode: c.FormValue("mode"), Stop: c.FormValue("stop"), Start: c.FormValue("start"), TZ: c.FormValue("tz")}
}

// lifecycleView is the "Keeping it up" card of an environment.
func lifecycleView(e *envs.Environment, l *envs.Lifecycle, a envs.Actor, now time.Time, csrf string) *web.LifecycleView {
	if l == nil {
		return nil
	}
	v := &web.LifecycleView{EnvironmentID: e.ID, Override: l.Override, Team: e.Team, CSRFToken: csrf,
		CanEdit: e.Status.Live() && envs.CanActOn(a, e) == nil}
	if e.Team != "" {
		v.TeamURL = "/teams/" + url.PathEscape(e.Team) + "/schedule"
	}
	if !l.LastActiveAt.IsZero() {
		v.LastActive = "Active " + web.Ago(now, l.LastActiveAt) + " via " + l.LastActiveVia
	}
	if l.Schedule != nil {
		if l.ScheduleFrom == "team" {
			v.TeamSchedule = scheduleText(l.Schedule)
		} else {
			v.Stop, v.Start, v.TZ = l.Schedule.Stop, l.Schedule.Start, l.Schedule.TZ
		}
	}
	switch {
	case e.Status.Live():
		if e.Status == envs.StatusReady {
			v.ProxyURL = "/e/" + url.PathEscape(e.ID) + "/"
		}
		v.Reasons = append(v.Reasons, fmt.Sprintf("Expires %s (%s)", web.Ago(now, e.ExpiresAt), web.DateTime(e.ExpiresAt)))
		if l.Idle > 0 && l.IdleUntil != nil {
			v.Reasons = append(v.Reasons, fmt.Sprintf("Destroyed if unused until %s (%s: inactivity after %s)",
				web.DateTime(*l.IdleUntil), web.Ago(now, *l.IdleUntil), web.Duration(l.Idle)))
		}
		if l.Schedule != nil && l.StopAt != nil {
			v.Reasons = append(v.Reasons, fmt.Sprintf("Schedule keeps it until %s %s (%s's schedule)",
				l.StopAt.In(l.Schedule.Location()).Format("Mon 2 Jan 15:04"), l.Schedule.TZ, scheduleOwner(l, e)))
		}
	case l.StartAt != nil && l.RelaunchedAs == "":
		v.CanCancelStart = envs.CanActOn(a, e) == nil
		v.Reasons = append(v.Reasons, fmt.Sprintf("Stopped by its schedule; a fresh stack starts %s (%s)",
			web.Ago(now, *l.StartAt), web.DateTime(*l.StartAt)))
	case l.RelaunchedAs != "" && l.RelaunchedAs != "-":
		v.RelaunchedAs = l.RelaunchedAs
	}
	return v
}

func scheduleOwner(l *envs.Lifecycle, e *envs.Environment) string {
	if l.ScheduleFrom == "team" {
		return "team " + e.Team
	}
	return "the environment"
}

func scheduleText(s *envs.Schedule) string {
	return fmt.Sprintf("stop %q, start %q, %s", s.Stop, s.Start, s.TZ)
}
