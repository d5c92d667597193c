package handlers

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// timelineTail is how many of a timeline's newest events the environment
// page shows unless asked for all (?events=all): rendering a thousand lines
// of a long CloudFormation history costs more than the page itself.
const timelineTail = 200

// environmentShow renders one environment with its timeline; the page then
// follows the environment live over SSE.
func (h *Handler) environmentShow(c *echo.Context) error {
	ctx := c.Request().Context()
	env, err := h.svc.Environment(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	var events []envs.Event
	earlier := false
	if c.QueryParam("events") == "all" {
		events, err = h.svc.Events(ctx, env.ID, 0)
	} else {
		events, earlier, err = h.svc.RecentEvents(ctx, env.ID, timelineTail)
	}
	if err != nil {
		return err
	}
	d := web.EnvironmentDetail{Env: environmentView(env, actorOf(c)), EarlierEvents: earlier,
		AllEventsURL: "/environments/" + url.PathEscape(env.ID) + "?events=all"}
	for _, ev := range events {
		d.Events = append(d.Events, eventView(ev))
	}
	l, err := h.svc.EnvironmentLifecycle(ctx, env.ID)
	if err != nil {
		return err
	}
	d.Lifecycle = lifecycleView(env, l, actorOf(c), h.svc.Now(), csrfOf(c))
	d.Cost, d.CSRFToken = costFiguresView(env, h.svc.Now()), csrfOf(c)
	if logs, err := h.svc.Logs(ctx, env.ID, "", 1); err == nil { // only the service names are needed here
		for _, l := range logs {
			d.Services = append(d.Services, l.Service)
		}
	}
	return render(c, http.StatusOK, web.EnvironmentPage(h.page(c, env.Name, "environments"), d))
}

// environmentExtend extends from the UI and answers with the new summary.
func (h *Handler) environmentExtend(c *echo.Context) error {
	env, err := h.svc.Extend(c.Request().Context(), actorOf(c), c.Param("id"), c.FormValue("ttl"))
	if err != nil {
		return err
	}
	return h.summary(c, env)
}

// environmentDestroy destroys from the UI and answers with the new summary.
func (h *Handler) environmentDestroy(c *echo.Context) error {
	env, err := h.svc.Destroy(c.Request().Context(), actorOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return h.summary(c, env)
}

func (h *Handler) summary(c *echo.Context, env *envs.Environment) error {
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/environments/"+env.ID)
	}
	return render(c, http.StatusOK, web.EnvironmentSummary(environmentView(env, actorOf(c))))
}

// environmentLogs renders the logs panel (?service=, default the first).
func (h *Handler) environmentLogs(c *echo.Context) error {
	ctx := c.Request().Context()
	env, err := h.svc.Environment(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	all, err := h.svc.Logs(ctx, env.ID, "", logLimit)
	if err != nil {
		return err
	}
	v := web.LogsView{EnvironmentID: env.ID, Service: c.QueryParam("service"), Live: env.Status.Live() || env.Status == envs.StatusDestroying}
	for _, l := range all {
		v.Services = append(v.Services, l.Service)
	}
	if v.Service == "" && len(all) > 0 {
		v.Service = all[len(all)-1].Service
		for _, l := range all {
			if l.Service != "setup" {
				v.Service = l.Service
				break
			}
		}
	}
	for _, l := range all {
		if l.Service == v.Service {
			v.Text, v.Truncated = l.Text, l.Truncated
		}
	}
	return render(c, http.StatusOK, web.LogsPanel(v))
}

// logLimit is how much of a log the UI and API show (the tail).
const logLimit = 64 << 10

// adminShow renders the admin view: failures and orphans.
func (h *Handler) adminShow(c *echo.Context) error {
	ctx := c.Request().Context()
	failures, err := h.svc.Failures(ctx)
	if err != nil {
		return err
	}
	var v web.AdminView
	// Listing cloud stacks retries when the cloud is unreachable; bound it
	// so the page still answers.
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	orphans, err := h.svc.Orphans(octx)
	cancel()
	if err != nil {
		// A cloud provider that cannot be reached must not hide the rest.
		h.log.Warn("list orphans", "err", err)
		v.OrphansError = err.Error()
	}
	v.Providers = providerCheckViews(h.providerChecks())
	for _, e := range failures {
		v.Failures = append(v.Failures, environmentView(e, actorOf(c)))
	}
	for _, o := range orphans {
		v.Orphans = append(v.Orphans, web.OrphanView{Provider: o.Provider, Handle: o.Handle, Reason: o.Reason})
	}
	return render(c, http.StatusOK, web.AdminPage(h.page(c, "Admin", "admin"), v))
}
