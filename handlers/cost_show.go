package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// costRoutes are the quota, approval and cost pages and API (issue 13,
// items 5 and 6).
func (h *Handler) costRoutes(e *echo.Echo, api *echo.Group) {
	read, launch, admin := envs.PermRead, envs.PermLaunch, envs.PermAdmin
	e.GET("/templates/:name/launch/cost", h.require(launch, h.launchCostEstimate))
	e.GET("/cost", h.require(read, h.costShow))
	e.GET("/savings", h.require(read, h.savingsShow))
	e.GET("/approvals", h.require(launch, h.approvalList))
	e.POST("/approvals", h.require(launch, h.approvalCreate))
	e.POST("/approvals/:id/approve", h.require(launch, h.approvalApprove))
	e.POST("/approvals/:id/deny", h.require(launch, h.approvalDeny))
	e.GET("/admin/quotas", h.require(admin, h.quotaList))
	e.POST("/admin/quotas", h.require(admin, h.quotaSave))
	e.POST("/admin/quotas/:scope/:qname/delete", h.require(admin, h.quotaDelete))

	api.GET("/cost", h.require(read, h.apiCost))
	api.GET("/savings", h.require(read, h.apiSavings))
	api.GET("/quotas", h.require(admin, h.apiQuotaList))
	api.PUT("/quotas/:scope/:qname", h.require(admin, h.apiQuotaSet))
	api.DELETE("/quotas/:scope/:qname", h.require(admin, h.apiQuotaDelete))
	api.GET("/approvals", h.require(launch, h.apiApprovalList))
	api.POST("/approvals", h.require(launch, h.apiApprovalCreate))
	api.GET("/approvals/:id", h.require(launch, h.apiApprovalShow))
	api.POST("/approvals/:id/approve", h.require(launch, h.apiApprovalApprove))
	api.POST("/approvals/:id/deny", h.require(launch, h.apiApprovalDeny))
}

// launchCostEstimate answers the launch form's estimate for the version,
// TTL and parameters it is sent (htmx, as the form changes).
func (h *Handler) launchCostEstimate(c *echo.Context) error {
	q := c.QueryParams()
	params := map[string]string{}
	for key, vals := range q {
		if name, ok := strings.CutPrefix(key, "params."); ok && len(vals) > 0 {
			params[name] = vals[len(vals)-1]
		}
	}
	v := h.costEstimate(c, c.Param("name"), q.Get("version"), strings.TrimSpace(q.Get("ttl")), params)
	return render(c, http.StatusOK, web.LaunchCostText(v))
}

// costEstimate is the launch form's estimate; a TTL that is not valid says
// so in place of an amount.
func (h *Handler) costEstimate(c *echo.Context, template, version, ttl string, params map[string]string) web.CostEstimateView {
	est, err := h.svc.EstimateLaunch(c.Request().Context(), template, version, ttl, params)
	if !est.Priced {
		return web.CostEstimateView{}
	}
	v := web.CostEstimateView{URL: "/templates/" + url.PathEscape(template) + "/launch/cost",
		Include: "#launch-version, #launch-ttl, [name^='params.']:not([type=password])"}
	if err != nil {
		v.Text = "≈ ? until expiry"
		if fe := envs.ErrorFields(err); len(fe) > 0 {
			v.Detail = "TTL " + fe[0].Message
		}
		return v
	}
	v.Text = "≈ " + est.Total.String() + " until expiry"
	v.Detail = est.Rate.String() + " an hour for " + envs.FormatDuration(est.TTL)
	return v
}

// costShow is the cost page: by team, user and template; ?team=, ?user=
// or ?template= puts one group's figures first.
func (h *Handler) costShow(c *echo.Context) error {
	rep, err := h.svc.CostReport(c.Request().Context())
	if err != nil {
		return err
	}
	lines := func(by string, ls []envs.CostLine) []web.CostLineView {
		out := make([]web.CostLineView, len(ls))
		for i, l := range ls {
			out[i] = costLineView(by, l)
		}
		return out
	}
	v := web.CostPageView{At: rep.At, Total: costLineView("", rep.Total),
		ByTeam: lines("team", rep.ByTeam), ByUser: lines("user", rep.ByUser), ByTemplate: lines("template", rep.ByTemplate)}
	for _, f := range []struct {
		param, label string
		lines        []envs.CostLine
	}{{"team", "Team ", rep.ByTeam}, {"user", "User ", rep.ByUser}, {"template", "Template ", rep.ByTemplate}} {
		if key := c.QueryParam(f.param); key != "" {
			l := costLineView(f.param, rep.Line(f.lines, key))
			v.Focus, v.FocusLabel = &l, f.label+key
		}
	}
	return render(c, http.StatusOK, web.CostPage(h.page(c, "Cost", "cost"), v))
}

func costLineView(by string, l envs.CostLine) web.CostLineView {
	v := web.CostLineView{Key: l.Key, Live: l.Live, Count: l.Count, Accrued: l.Accrued.String(), Projected: l.Projected.String()}
	switch by {
	case "team":
		v.Href = "/cost?team=" + url.QueryEscape(l.Key)
	case "user":
		v.Href = "/cost?user=" + url.QueryEscape(l.Key)
	case "template":
		v.Href = "/cost?template=" + url.QueryEscape(l.Key)
	}
	return v
}

// savingsDays reads ?days= (1-366, default 30).
func savingsDays(c *echo.Context) (int, error) {
	days := 30
	if s := c.QueryParam("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 366 {
			return 0, envs.Invalid("savings request is not valid", envs.FieldError{Field: "days", Message: "must be a whole number of days from 1 to 366"})
		}
		days = n
	}
	return days, nil
}

// savingsShow is the savings page with its chart.
func (h *Handler) savingsShow(c *echo.Context) error {
	days, err := savingsDays(c)
	if err != nil {
		return err
	}
	s, err := h.svc.Savings(c.Request().Context(), days)
	if err != nil {
		return err
	}
	v := web.SavingsView{Days: days, From: s.From, To: s.To, Total: s.Total().String(), TTL: s.TTL.String(),
		Inactive: s.Inactive.String(), Destroyed: s.Destroyed}
	var top envs.Money
	for _, d := range s.Days {
		top = max(top, d.Total())
		v.Bars = append(v.Bars, web.SavingsBar{Day: d.Day, TTL: int64(d.TTL), Inactive: int64(d.Inactive),
			Label: d.Total().String() + " (TTL " + d.TTL.String() + ", inactivity " + d.Inactive.String() + ")"})
	}
	v.Max = top.String()
	return render(c, http.StatusOK, web.SavingsPage(h.page(c, "Savings", "cost"), v))
}

type costLineJSON struct {
	Key       string `json:"key,omitempty"`
	Live      int    `json:"live"`
	Count     int    `json:"count"`
	Accrued   string `json:"accrued"`
	Projected string `json:"projected"`
}

func toCostLineJSON(ls []envs.CostLine) []costLineJSON {
	out := []costLineJSON{}
	for _, l := range ls {
		out = append(out, costLineJSON{Key: l.Key, Live: l.Live, Count: l.Count, Accrued: l.Accrued.Decimal(), Projected: l.Projected.Decimal()})
	}
	return out
}

// apiCost is GET /api/v1/cost: accrued and projected cost in dollars, in
// total and by team, user and template.
func (h *Handler) apiCost(c *echo.Context) error {
	rep, err := h.svc.CostReport(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"at": rep.At, "total": toCostLineJSON([]envs.CostLine{rep.Total})[0],
		"by_team": toCostLineJSON(rep.ByTeam), "by_user": toCostLineJSON(rep.ByUser), "by_template": toCostLineJSON(rep.ByTemplate),
	})
}

// apiSavings is GET /api/v1/savings?days=30: what the reaper and the
// inactivity policy saved, per day.
func (h *Handler) apiSavings(c *echo.Context) error {
	days, err := savingsDays(c)
	if err != nil {
		return err
	}
	s, err := h.svc.Savings(c.Request().Context(), days)
	if err != nil {
		return err
	}
	type dayJSON struct {
		Day      string `json:"day"`
		TTL      string `json:"ttl"`
		Inactive string `json:"inactive"`
	}
	out := []dayJSON{}
	for _, d := range s.Days {
		out = append(out, dayJSON{Day: d.Day.Format(time.DateOnly), TTL: d.TTL.Decimal(), Inactive: d.Inactive.Decimal()})
	}
	return c.JSON(http.StatusOK, map[string]any{"from": s.From, "to": s.To, "total": s.Total().Decimal(),
		"ttl": s.TTL.Decimal(), "inactive": s.Inactive.Decimal(), "environments": s.Destroyed, "days": out})
}

// costFiguresView is an environment's cost card (nil: its version
// declares no cost).
func costFiguresView(e *envs.Environment, now time.Time) *web.CostFiguresView {
	if e.HourlyCost == 0 {
		return nil
	}
	v := &web.CostFiguresView{Hourly: e.HourlyCost.String(), Accrued: e.AccruedCost(now).String(),
		Projected: e.ProjectedCost(now).String(), Live: e.Status.Live()}
	if e.Team != "" {
		v.Links = append(v.Links, web.CostLink{Label: "Team " + e.Team + "'s cost", Href: "/cost?team=" + url.QueryEscape(e.Team)})
	}
	v.Links = append(v.Links, web.CostLink{Label: e.Owner + "'s cost", Href: "/cost?user=" + url.QueryEscape(e.Owner)},
		web.CostLink{Label: e.Template + "'s cost", Href: "/cost?template=" + url.QueryEscape(e.Template)})
	return v
}

type envCostJSON struct {
	Hourly    string `json:"hourly"`
	Accrued   string `json:"accrued"`
	Projected string `json:"projected"`
}

func toEnvCostJSON(e *envs.Environment, now time.Time) *envCostJSON {
	if e.HourlyCost == 0 {
		return nil
	}
	return &envCostJSON{Hourly: e.HourlyCost.Decimal(), Accrued: e.AccruedCost(now).Decimal(), Projected: e.ProjectedCost(now).Decimal()}
}
