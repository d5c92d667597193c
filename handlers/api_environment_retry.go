package handlers

import (
	"net/http"
	"strings"
	"unicode"

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
	return h.envJSON(c, http.StatusAccepted, env)
}

// environmentRetryDestroy is the admin page's retry form: "retain" holds
// logical ids separated by commas or spaces.
func (h *Handler) environmentRetryDestroy(c *echo.Context) error {
	retain := strings.FieldsFunc(c.FormValue("retain"), func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if _, err := h.svc.RetryDestroy(c.Request().Context(), actorOf(c), c.Param("id"), retain); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin")
}
