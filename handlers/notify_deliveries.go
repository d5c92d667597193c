package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

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
