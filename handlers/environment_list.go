package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// environmentsPageSize is how many environments the environments page
// shows at a time.
const environmentsPageSize = 50

// environmentList renders the environments page (?status= filters; "" is
// the live ones (envs.Status.Live: pending, provisioning, ready), "all"
// every one; ?drifted=true those whose stack drifted; ?label=k=v, repeatable,
// those carrying every such label; ?q= a part of the name, ?template= and
// ?owner= exact, as in the API), a page at a time
// (?cursor= from the page's next/previous links). ?partial=rows renders only
// the rows, for the table's periodic refresh.
func (h *Handler) environmentList(c *echo.Context) error {
	ctx := c.Request().Context()
	status := c.QueryParam("status")
	var labels []string
	for _, l := range c.QueryParams()["label"] {
		if l = strings.TrimSpace(l); l != "" {
			labels = append(labels, l)
		}
	}
	f := envs.Filter{Limit: environmentsPageSize, Cursor: c.QueryParam("cursor"), Labels: labels,
		Search: strings.TrimSpace(c.QueryParam("q")), Template: c.QueryParam("template"), Owner: c.QueryParam("owner")}
	switch status {
	case "":
		f.Statuses = []envs.Status{envs.StatusPending, envs.StatusProvisioning, envs.StatusReady}
	case "all":
	default:
		f.Statuses = []envs.Status{envs.Status(status)}
	}
	var err error
	if f.Drifted, err = boolParam(c.QueryParams(), "drifted"); err != nil {
		return err
	}
	page, err := h.svc.EnvironmentPage(ctx, f)
	if err != nil {
		return err
	}
	l := web.EnvironmentList{Status: status, Labels: labels, Counts: map[string]int{}, Cursor: f.Cursor, Next: page.Next, Prev: page.Prev,
		Search: f.Search, Template: f.Template, Owner: f.Owner}
	for _, e := range page.Environments {
		l.Environments = append(l.Environments, environmentView(e, actorOf(c)))
	}
	p := h.page(c, "Environments", "environments")
	if c.QueryParam("partial") == "rows" {
		return render(c, http.StatusOK, web.EnvironmentRows(p, l)) // no tabs, no counts
	}
	counts, err := h.svc.Counts(ctx)
	if err != nil {
		return err
	}
	// The template filter's names only: the catalog would count every
	// live environment per version (a scan of the table) on each view.
	if l.Templates, err = h.svc.TemplateNames(ctx); err != nil {
		return err
	}
	for s, n := range counts {
		l.Counts[string(s)] = n
	}
	return render(c, http.StatusOK, web.EnvironmentsPage(p, l))
}
