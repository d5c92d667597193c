package handlers

import (
	"time"

	"github.com/labstack/echo/v5"
)

var zeroTime time.Time

// signout ends the session (POST, with the CSRF token like every other
// state change) and clears the cookie.
func (h *Handler) signout(c *echo.Context) error {
	if ck, err := c.Request().Cookie(sessionCookie); err == nil && ck.Value != "" && actorOf(c).Via == "session" {
		if err := h.svc.SignOut(c.Request().Context(), actorOf(c), ck.Value); err != nil {
			return err
		}
	}
	h.setCookie(c, sessionCookie, "", zeroTime)
	return redirect(c, "/signin?signed_out=1")
}
