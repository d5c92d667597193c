package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/web"
)

// catalogShow renders the catalog of templates.
func (h *Handler) catalogShow(c *echo.Context) error {
	templates, err := h.svc.Catalog(c.Request().Context())
	if err != nil {
		return err
	}
	views := make([]web.TemplateView, 0, len(templates))
	for _, t := range templates {
		views = append(views, templateView(t))
	}
	return render(c, http.StatusOK, web.CatalogPage(h.page(c, "Catalog", "catalog"), views))
}
