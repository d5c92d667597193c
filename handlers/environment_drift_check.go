package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// apiEnvironmentDriftCheck is POST /api/v1/environments/{id}/drift-check
// -> 202 with the environment, whose drift says the check is in progress;
// the result lands on the environment.
func (h *Handler) apiEnvironmentDriftCheck(c *echo.Context) error {
	env, err := h.svc.RequestDriftCheck(c.Request().Context(), actorOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return h.envJSON(c, http.StatusAccepted, env)
}

// environmentDriftCheck is the environment page's "Check for drift": it
// answers with the Drift section, which follows the check until done.
func (h *Handler) environmentDriftCheck(c *echo.Context) error {
	env, err := h.svc.RequestDriftCheck(c.Request().Context(), actorOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/environments/"+env.ID)
	}
	return h.driftSection(c, env)
}

// environmentDrift is GET /environments/{id}/drift: the Drift section,
// which asks for itself while a check runs.
func (h *Handler) environmentDrift(c *echo.Context) error {
	env, err := h.svc.Environment(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return h.driftSection(c, env)
}

func (h *Handler) driftSection(c *echo.Context, env *envs.Environment) error {
	v := driftView(env, actorOf(c))
	if v == nil {
		return envs.Errorf(envs.ENotFound, "environment %s has no drift to show", env.Name)
	}
	return render(c, http.StatusOK, web.DriftSection(*v))
}
