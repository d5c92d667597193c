package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

// apiEnvironmentRelaunch is POST /api/v1/environments/{id}/relaunch
// {"name","version","ttl","params":{},"same_snapshot"} (all optional) ->
// 202 with the new environment, which is provisioned in the background
// like a launch.
func (h *Handler) apiEnvironmentRelaunch(c *echo.Context) error {
	var req struct {
		Name         string         `json:"name"`
		Version      string         `json:"version"`
		TTL          string         `json:"ttl"`
		Params       map[string]any `json:"params"`
		SameSnapshot bool           `json:"same_snapshot"`
	}
	if c.Request().ContentLength != 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	env, err := h.svc.Relaunch(c.Request().Context(), actorOf(c), envs.RelaunchRequest{
		Source: c.Param("id"), Name: req.Name, Version: req.Version, TTL: req.TTL, Params: req.Params, SameSnapshot: req.SameSnapshot,
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/environments/"+env.ID)
	return h.envJSON(c, http.StatusAccepted, env)
}
