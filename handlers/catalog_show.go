package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// launchRefusal is the short note shown instead of a Launch button.
func launchRefusal(a envs.Actor, spec envs.Spec) string {
	if envs.Authorize(a, envs.PermLaunch) != nil {
		return "Needs the member role"
	}
	return "For " + strings.Join(spec.Teams, ", ")
}

// catalogShow renders the catalog of templates.
func (h *Handler) catalogShow(c *echo.Context) error {
	templates, err := h.svc.Catalog(c.Request().Context())
	if err != nil {
		return err
	}
	views := make([]web.TemplateView, 0, len(templates))
	for _, t := range templates {
		v := templateView(t)
		if latest, ok := t.Latest(); ok {
			if err := envs.CanLaunchTemplate(actorOf(c), latest.Spec); err != nil {
				v.NotLaunchable = launchRefusal(actorOf(c), latest.Spec)
			}
		}
		views = append(views, v)
	}
	p := h.page(c, "Catalog", "catalog")
	p.Flash = catalogFlash(c, templates)
	return render(c, http.StatusOK, web.CatalogPage(p, views))
}
