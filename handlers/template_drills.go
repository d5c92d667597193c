package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/web"
)

// templateDrills renders a DR template's drill history.
func (h *Handler) templateDrills(c *echo.Context) error {
	name := c.Param("name")
	drills, err := h.svc.Drills(c.Request().Context(), name)
	if err != nil {
		return err
	}
	v := web.DrillsView{Template: name}
	for _, d := range drills {
		dv := web.DrillView{EnvironmentID: d.EnvironmentID, Name: d.Name, Version: d.Version, Status: string(d.Status),
			Snapshot: d.Snapshot, LaunchedAt: d.LaunchedAt, FailureReason: d.FailureReason}
		if d.RTO != nil {
			dv.RTO = web.Duration(*d.RTO)
		}
		if d.RPO != nil {
			dv.RPO = web.Duration(*d.RPO)
		}
		v.Drills = append(v.Drills, dv)
	}
	return render(c, http.StatusOK, web.DrillsPage(h.page(c, "Drills of "+name, "catalog"), v))
}
