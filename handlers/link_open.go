package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// linkRoute serves the one-click links of expiry warnings (public: the
// link's signature authorises it; see envs/links.go).
const linkRoute = envs.LinkPath + ":token"

// linkOpen shows what a one-click link does, changing nothing: mail
// scanners and link previews fetch links.
func (h *Handler) linkOpen(c *echo.Context) error {
	token := c.Param("token")
	l, err := h.svc.OpenLink(c.Request().Context(), token, c.RealIP())
	if err != nil {
		return h.linkRefused(c, err)
	}
	v := linkView(l, token)
	v.CSRFToken = csrfOf(c)
	return render(c, http.StatusOK, web.LinkPage(h.page(c, "Expiry warning", ""), v))
}

// linkRefused renders why a link cannot be used.
func (h *Handler) linkRefused(c *echo.Context, err error) error {
	if envs.ErrorCode(err) == envs.EInternal || envs.ErrorCode(err) == "" {
		return err
	}
	status := toProblem(err).Status
	return render(c, status, web.LinkPage(h.page(c, "Link refused", ""), web.LinkView{Refused: envs.ErrorMessage(err)}))
}

func linkView(l *envs.Link, token string) web.LinkView {
	return web.LinkView{Token: token, Action: l.Action, Environment: l.Environment.Name, EnvID: l.Environment.ID,
		ExpiresAt: l.Environment.ExpiresAt, NewExpiry: l.NewExpiry, By: envs.FormatDuration(l.By)}
}
