package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"
)

// notifyChannelRemove removes a channel.
func (h *Handler) notifyChannelRemove(c *echo.Context) error {
	if err := h.svc.RemoveNotifyChannel(c.Request().Context(), actorOf(c), c.Param("id")); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/settings/notifications")
}
