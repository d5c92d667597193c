package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"
)

// apiEnvironmentRetryDestroy is POST /api/v1/environments/{id}/retry-destroy
// {"retain":["LogicalId"]} -> 202: an admin retries a failed destroy now,
// optionally leaving named resources in place.
func (h *Handler) apiEnvironmentRetryDestroy(c *echo.Context) error {
	var req struct {
		Retain []string `json:"retain"`
	}
	if c.Request().ContentLength != 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	env, err := h.svc.RetryDestroy(c.Request().Context(), actorOf(c), c.Param("id"), req.Retain)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, toEnvironmentJSON(env, h.svc.Now()))
}
