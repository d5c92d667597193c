package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

// channelRequestJSON is POST /api/v1/notifications/channels.
type channelRequestJSON struct {
	Scope  string   `json:"scope"` // user (default) or team
	Team   string   `json:"team"`
	Kind   string   `json:"kind"` // webhook, slack, email
	URL    string   `json:"url"`
	Email  string   `json:"email"`
	Secret string   `json:"secret"` // webhook: whsec_...; empty: generated
	Events []string `json:"events"`
}

// channelCreatedJSON is a new channel, with its generated signing secret
// (once: never again).
type channelCreatedJSON struct {
	envs.Channel
	Secret string `json:"secret,omitempty"`
}

// apiNotifyChannels is GET /api/v1/notifications/channels: the caller's
// channels and their teams'.
func (h *Handler) apiNotifyChannels(c *echo.Context) error {
	chans, err := h.svc.NotifyChannels(c.Request().Context(), actorOf(c))
	if err != nil {
		return err
	}
	if chans == nil {
		chans = []envs.Channel{}
	}
	return c.JSON(http.StatusOK, listJSON[envs.Channel]{Items: chans})
}

// apiNotifyChannelAdd is POST /api/v1/notifications/channels -> 201.
func (h *Handler) apiNotifyChannelAdd(c *echo.Context) error {
	var req channelRequestJSON
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ch, secret, err := h.svc.AddNotifyChannel(c.Request().Context(), actorOf(c), envs.ChannelRequest{Scope: req.Scope, Team: req.Team,
		Kind: req.Kind, URL: req.URL, Email: req.Email, Secret: req.Secret, Events: req.Events})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, channelCreatedJSON{Channel: ch, Secret: secret})
}

// apiNotifyChannelRemove is DELETE /api/v1/notifications/channels/{id} -> 204.
func (h *Handler) apiNotifyChannelRemove(c *echo.Context) error {
	if err := h.svc.RemoveNotifyChannel(c.Request().Context(), actorOf(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiNotifyDeliveries is GET /api/v1/notifications/deliveries?limit=N
// (administrators): the delivery log, newest first.
func (h *Handler) apiNotifyDeliveries(c *echo.Context) error {
	limit, err := intParam(c.QueryParam("limit"), "limit", 200, 1, 1000)
	if err != nil {
		return err
	}
	ds, err := h.svc.NotifyDeliveries(c.Request().Context(), actorOf(c), limit)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []envs.Delivery{}
	}
	return c.JSON(http.StatusOK, listJSON[envs.Delivery]{Items: ds})
}
