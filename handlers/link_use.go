package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/web"
)

// linkUse acts on a one-click link, once, as the environment's owner.
func (h *Handler) linkUse(c *echo.Context) error {
	token := c.Param("token")
	l, env, err := h.svc.UseLink(c.Request().Context(), token, c.RealIP())
	if err != nil {
		return h.linkRefused(c, err)
	}
	v := linkView(l, token)
	v.Done, v.ExpiresAt, v.NewExpiry = true, env.ExpiresAt, env.ExpiresAt
	return render(c, http.StatusOK, web.LinkPage(h.page(c, "Expiry warning", ""), v))
}
