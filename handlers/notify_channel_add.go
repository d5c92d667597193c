package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// notifyChannelAdd adds a channel from the settings form; a generated
// signing secret is shown once, in this answer only (never cached, never
// in a redirect's URL).
func (h *Handler) notifyChannelAdd(c *echo.Context) error {
	form, err := c.FormValues()
	if err != nil {
		return envs.Invalid("form is not valid", envs.FieldError{Message: err.Error()})
	}
	req := envs.ChannelRequest{Kind: form.Get("kind"), URL: form.Get("url"), Email: form.Get("email"),
		Secret: form.Get("secret"), Events: form["events"], Scope: envs.ScopeUser}
	if scope := form.Get("scope"); strings.HasPrefix(scope, "team") {
		req.Scope = envs.ScopeTeam
		req.Team = strings.TrimPrefix(strings.TrimPrefix(scope, "team"), ":")
		if req.Team == "" {
			req.Team = form.Get("team")
		}
	} else if scope != "" && scope != envs.ScopeUser {
		req.Scope = scope
	}
	_, secret, err := h.svc.AddNotifyChannel(c.Request().Context(), actorOf(c), req)
	if err != nil && envs.ErrorCode(err) != envs.EInvalid {
		return err
	}
	v, lerr := h.notifySettingsView(c)
	if lerr != nil {
		return lerr
	}
	status := http.StatusCreated
	p := h.page(c, "Notifications", "notifications")
	if err != nil {
		status = http.StatusUnprocessableEntity
		v.Errors = map[string]string{}
		for _, fe := range envs.ErrorFields(err) {
			v.Errors[fe.Field] = fe.Message
		}
		if len(v.Errors) == 0 {
			v.Errors["kind"] = envs.ErrorMessage(err)
		}
	} else {
		v.NewSecret = secret
		p.Flash = "Channel added"
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, status, web.NotifySettingsPage(p, v))
}
