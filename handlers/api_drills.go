package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

type drillJSON struct {
	envs.Drill
	RTOSeconds *float64 `json:"rto_seconds"`
	RPOSeconds *float64 `json:"rpo_seconds"`
}

// apiTemplateDrills is GET /api/v1/templates/{name}/drills: the template's DR
// drills with their RTO and RPO, newest first.
func (h *Handler) apiTemplateDrills(c *echo.Context) error {
	drills, err := h.svc.Drills(c.Request().Context(), c.Param("name"))
	if err != nil {
		return err
	}
	items := make([]drillJSON, 0, len(drills))
	for _, d := range drills {
		j := drillJSON{Drill: d}
		if d.RTO != nil {
			s := d.RTO.Seconds()
			j.RTOSeconds = &s
		}
		if d.RPO != nil {
			s := d.RPO.Seconds()
			j.RPOSeconds = &s
		}
		items = append(items, j)
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items})
}
