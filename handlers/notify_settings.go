package handlers

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// notifySettingsShow is the notification settings page.
func (h *Handler) notifySettingsShow(c *echo.Context) error {
	v, err := h.notifySettingsView(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, web.NotifySettingsPage(h.page(c, "Notifications", "notifications"), v))
}

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

// notifyChannelRemove removes a channel.
func (h *Handler) notifyChannelRemove(c *echo.Context) error {
	if err := h.svc.RemoveNotifyChannel(c.Request().Context(), actorOf(c), c.Param("id")); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/settings/notifications")
}

func (h *Handler) notifySettingsView(c *echo.Context) (web.NotifySettingsView, error) {
	a := actorOf(c)
	chans, err := h.svc.NotifyChannels(c.Request().Context(), a)
	if err != nil {
		return web.NotifySettingsView{}, err
	}
	v := web.NotifySettingsView{EmailEnabled: h.svc.EmailConfigured(), AnyTeam: a.IsAdmin()}
	if a.IsAdmin() || a.EffectiveRole().AtLeast(envs.RoleAuthor) {
		v.Teams = slices.Clone(a.Teams)
	}
	labels := map[envs.NoticeEvent]string{}
	for _, e := range envs.NoticeEvents {
		v.Events = append(v.Events, web.EventOption{Value: string(e.Event), Label: e.Label})
		labels[e.Event] = e.Label
	}
	for _, ch := range chans {
		cv := web.ChannelView{ID: ch.ID, Scope: "Mine", Kind: ch.Kind, Target: ch.Target, HasSecret: ch.HasSecret,
			CreatedBy: ch.CreatedBy, CreatedAt: ch.CreatedAt, Events: "every event",
			CanRemove: ch.Scope == envs.ScopeUser || a.IsAdmin() || (slices.Contains(a.Teams, ch.Team) && a.EffectiveRole().AtLeast(envs.RoleAuthor))}
		if ch.Scope == envs.ScopeTeam {
			cv.Scope = "Team " + ch.Team
		}
		if len(ch.Events) > 0 {
			names := make([]string, 0, len(ch.Events))
			for _, e := range ch.Events {
				names = append(names, labels[e])
			}
			cv.Events = strings.Join(names, ", ")
		}
		v.Channels = append(v.Channels, cv)
	}
	return v, nil
}

// notifyDeliveries is the administrators' delivery log.
func (h *Handler) notifyDeliveries(c *echo.Context) error {
	ds, err := h.svc.NotifyDeliveries(c.Request().Context(), actorOf(c), 200)
	if err != nil {
		return err
	}
	var v web.DeliveriesView
	for _, d := range ds {
		owner := "user " + d.Owner
		if d.Scope == envs.ScopeTeam {
			owner = "team " + d.Owner
		}
		v.Deliveries = append(v.Deliveries, web.DeliveryView{At: d.At, Event: d.Event, Channel: d.Kind + " " + d.Target, Owner: owner,
			EnvironmentID: d.EnvironmentID, Attempt: d.Attempt, Final: d.Final, OK: d.OK, StatusCode: d.StatusCode, Error: d.Error})
	}
	return render(c, http.StatusOK, web.DeliveriesPage(h.page(c, "Notification deliveries", "deliveries"), v))
}
