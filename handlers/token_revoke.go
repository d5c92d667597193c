package handlers

import (
	"github.com/labstack/echo/v5"
)

// tokenRevoke revokes one of the user's tokens.
func (h *Handler) tokenRevoke(c *echo.Context) error {
	if err := h.svc.RevokeToken(c.Request().Context(), actorOf(c), c.Param("id")); err != nil {
		return err
	}
	return redirect(c, "/tokens")
}
