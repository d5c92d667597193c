package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// templateRolloutStart starts a rollout from a version's "Roll out" form
// and shows it.
func (h *Handler) templateRolloutStart(c *echo.Context) error {
	form, err := c.FormValues()
	if err != nil {
		return envs.Errorf(envs.EInvalid, "the form could not be read")
	}
	req := envs.RolloutRequest{Template: c.Param("name"), Version: form.Get("version"),
		Filter: envs.RolloutFilter{Team: strings.TrimSpace(form.Get("team"))}}
	for _, l := range strings.Split(form.Get("label"), ",") {
		if l = strings.TrimSpace(l); l != "" {
			req.Filter.Labels = append(req.Filter.Labels, l)
		}
	}
	if form.Get("status") == "all" {
		req.Filter.Statuses = []envs.Status{envs.StatusPending, envs.StatusProvisioning, envs.StatusReady}
	}
	for field, dst := range map[string]*int{"wave_size": &req.WaveSize, "concurrency": &req.Concurrency} {
		if v := strings.TrimSpace(form.Get(field)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return envs.Invalid("rollout is not valid", envs.FieldError{Field: field, Message: "must be a whole number"})
			}
			*dst = n
		}
	}
	ro, err := h.svc.StartRollout(c.Request().Context(), actorOf(c), req)
	if err != nil {
		return err
	}
	return redirect(c, rolloutPath(ro))
}

// templateRolloutShow renders a rollout's page (?partial=status: only
// the part that refreshes itself).
func (h *Handler) templateRolloutShow(c *echo.Context) error {
	ro, err := h.svc.GetRollout(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if ro.Template != c.Param("name") {
		return envs.Errorf(envs.ENotFound, "rollout %q of template %s does not exist", c.Param("id"), c.Param("name"))
	}
	v := rolloutView(ro, actorOf(c))
	if c.QueryParam("partial") == "status" {
		return render(c, http.StatusOK, web.RolloutStatus(v))
	}
	return render(c, http.StatusOK, web.RolloutPage(h.page(c, "Rollout "+ro.ID, "catalog"), v))
}

// templateRolloutResume and templateRolloutCancel are the rollout page's
// buttons.
func (h *Handler) templateRolloutResume(c *echo.Context) error {
	ro, err := h.svc.ResumeRollout(c.Request().Context(), actorOf(c), c.Param("name"), c.Param("id"))
	if err != nil {
		return err
	}
	return redirect(c, rolloutPath(ro))
}

func (h *Handler) templateRolloutCancel(c *echo.Context) error {
	ro, err := h.svc.CancelRollout(c.Request().Context(), actorOf(c), c.Param("name"), c.Param("id"))
	if err != nil {
		return err
	}
	return redirect(c, rolloutPath(ro))
}

func rolloutPath(ro *envs.Rollout) string { return "/templates/" + ro.Template + "/rollouts/" + ro.ID }

func rolloutView(ro *envs.Rollout, a envs.Actor) web.RolloutView {
	v := web.RolloutView{ID: ro.ID, Template: ro.Template, Version: ro.Version, Status: ro.Status, Reason: ro.Reason,
		WaveSize: ro.WaveSize, Concurrency: ro.Concurrency, CreatedBy: ro.CreatedBy, CreatedAt: ro.CreatedAt,
		CanChange: envs.Authorize(a, envs.PermPublish) == nil}
	var parts []string
	if len(ro.Filter.Labels) > 0 {
		parts = append(parts, "labelled "+strings.Join(ro.Filter.Labels, " and "))
	}
	if ro.Filter.Team != "" {
		parts = append(parts, "of team "+ro.Filter.Team)
	}
	if ro.Filter.Kind != "" {
		parts = append(parts, "of kind "+string(ro.Filter.Kind))
	}
	v.Filter = strings.Join(parts, ", ")
	for _, it := range ro.Items {
		if len(v.Waves) == 0 || v.Waves[len(v.Waves)-1].Number != it.Wave+1 {
			v.Waves = append(v.Waves, web.RolloutWaveView{Number: it.Wave + 1})
		}
		w := &v.Waves[len(v.Waves)-1]
		w.Items = append(w.Items, web.RolloutItemView{EnvironmentID: it.EnvironmentID, FromVersion: it.FromVersion, State: it.State, Reason: it.Reason})
	}
	return v
}
