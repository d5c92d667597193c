package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

// apiEnvironmentReplace is POST /api/v1/environments/{id}/replace
// {"version":"1.3.0","params":{...},"reason":"..."} -> 202: a fresh stack
// of that version is built beside the one in service and switched to once
// healthy (see envs/replace.go).
func (h *Handler) apiEnvironmentReplace(c *echo.Context) error {
	var req struct {
		Version string            `json:"version"`
		Params  map[string]string `json:"params"`
		Reason  string            `json:"reason"`
	}
	if c.Request().ContentLength != 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	env, err := h.svc.Replace(c.Request().Context(), actorOf(c), envs.ReplaceRequest{ID: c.Param("id"), Version: req.Version, Params: req.Params, Reason: req.Reason})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, toEnvironmentJSON(env, h.svc.Now()))
}

// apiEnvironmentRollback is POST /api/v1/environments/{id}/rollback -> 202:
// back to the version it ran before its last replace.
func (h *Handler) apiEnvironmentRollback(c *echo.Context) error {
	env, err := h.svc.Rollback(c.Request().Context(), actorOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, toEnvironmentJSON(env, h.svc.Now()))
}
