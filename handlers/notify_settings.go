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
