package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// environmentList renders the environments page (?status= filters; "" is
// the live ones, "all" every one). ?partial=rows renders only the rows, for
// the table's periodic refresh.
func (h *Handler) environmentList(c *echo.Context) error {
	ctx := c.Request().Context()
	status := c.QueryParam("status")
	f := envs.Filter{Limit: 500}
	switch status {
	case "":
		f.Statuses = []envs.Status{envs.StatusPending, envs.StatusProvisioning, envs.StatusReady,
			envs.StatusFailed, envs.StatusDestroying, envs.StatusDestroyFailed}
	case "all":
	default:
		f.Statuses = []envs.Status{envs.Status(status)}
	}
	list, err := h.svc.Environments(ctx, f)
	if err != nil {
		return err
	}
	counts, err := h.svc.Counts(ctx)
	if err != nil {
		return err
	}
	l := web.EnvironmentList{Status: status, Counts: map[string]int{}}
	for s, n := range counts {
		l.Counts[string(s)] = n
	}
	for _, e := range list {
		l.Environments = append(l.Environments, environmentView(e, actorOf(c)))
	}
	p := h.page(c, "Environments", "environments")
	if c.QueryParam("partial") == "rows" {
		return render(c, http.StatusOK, web.EnvironmentRows(p, l))
	}
	return render(c, http.StatusOK, web.EnvironmentsPage(p, l))
}
