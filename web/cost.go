package web

import (
	"fmt"
	"net/url"
	"time"

	"github.com/a-h/templ"
)

// CostEstimateView is the launch form's "≈ $X until expiry": Text is the
// estimate ("" when the version declares no cost), URL where it is asked
// for again as the TTL or a priced parameter changes, Include the inputs
// that decide it (an hx-include selector).
type CostEstimateView struct {
	Text    string
	Detail  string // "$0.12 an hour for 2h"
	URL     string
	Include string
}

// CostFiguresView is an environment's cost: its hourly rate, what it cost
// so far and what it will cost until its expiry.
type CostFiguresView struct {
	Hourly    string
	Accrued   string
	Projected string
	Live      bool
	// Links are the cost pages of its team, owner and template.
	Links []CostLink
}

// CostLink is a link to a group's cost.
type CostLink struct {
	Label, Href string
}

// CostLineView is a group's cost (a team's, a user's, a template's).
type CostLineView struct {
	Key       string
	Href      string // the environments of the group
	Live      int
	Count     int
	Accrued   string
	Projected string
}

// CostPageView is the cost page: every priced environment's cost, by
// team, user and template.
type CostPageView struct {
	At         time.Time
	Total      CostLineView
	ByTeam     []CostLineView
	ByUser     []CostLineView
	ByTemplate []CostLineView
	// Focus names a group asked for (?team=, ?user=, ?template=): its
	// line is shown on its own above the tables.
	Focus      *CostLineView
	FocusLabel string
}

// SavingsView is the savings page: what the reaper and the inactivity
// policy avoided, per day, drawn as stacked bars.
type SavingsView struct {
	Days      int
	From, To  time.Time
	Total     string
	TTL       string
	Inactive  string
	Destroyed int
	Bars      []SavingsBar
	// Max is the chart's top (the biggest day), as text.
	Max string
}

// SavingsBar is one day of the chart. Amounts are micro-dollars, so the
// template draws the bars without arithmetic on text.
type SavingsBar struct {
	Day      time.Time
	TTL      int64
	Inactive int64
	Label    string // "$12.00 (TTL $10.00, inactivity $2.00)"
}

// The savings chart's geometry, in SVG user units.
const (
	chartW, chartH = 720, 200
	chartPad       = 24
)

// barRect is one rectangle of the chart.
type barRect struct {
	X, Y, W, H string
}

func chartBarWidth(n int) float64 {
	if n <= 0 {
		return 0
	}
	return float64(chartW-2*chartPad) / float64(n)
}

// savingsRects places day i's two stacked rectangles (TTL below,
// inactivity above), scaled to the biggest day.
func savingsRects(v SavingsView, i int) (ttl, inactive barRect) {
	var top int64
	for _, b := range v.Bars {
		top = max(top, b.TTL+b.Inactive)
	}
	w := chartBarWidth(len(v.Bars))
	x := chartPad + float64(i)*w + w*0.15
	b := v.Bars[i]
	scale := 0.0
	if top > 0 {
		scale = float64(chartH-2*chartPad) / float64(top)
	}
	hT, hI := float64(b.TTL)*scale, float64(b.Inactive)*scale
	base := float64(chartH - chartPad)
	f := func(n float64) string { return fmt.Sprintf("%.1f", n) }
	ttl = barRect{X: f(x), Y: f(base - hT), W: f(w * 0.7), H: f(hT)}
	inactive = barRect{X: f(x), Y: f(base - hT - hI), W: f(w * 0.7), H: f(hI)}
	return ttl, inactive
}

// savingsTick is the x position of day i's label.
func savingsTick(v SavingsView, i int) string {
	w := chartBarWidth(len(v.Bars))
	return fmt.Sprintf("%.1f", chartPad+float64(i)*w+w/2)
}

// showTick keeps the day labels readable: every day up to 10 days, else
// about ten labels.
func showTick(v SavingsView, i int) bool {
	n := len(v.Bars)
	step := max(1, (n+9)/10)
	return i%step == 0 || i == n-1
}

func chartViewBox() string { return fmt.Sprintf("0 0 %d %d", chartW, chartH) }

func chartBaseY() string { return fmt.Sprintf("%d", chartH-chartPad) }

func chartRight() string { return fmt.Sprintf("%d", chartW-chartPad) }

// QuotaRowView is one limit on the quotas page.
type QuotaRowView struct {
	Scope      string
	Name       string
	MaxLive    string // "" no limit
	MaxMonthly string // dollars, "" no limit
	UpdatedBy  string
	UpdatedAt  *time.Time
}

// QuotasPageView is the admins' quotas page: the limits and a form to set
// one (with its errors, by field).
type QuotasPageView struct {
	Rows   []QuotaRowView
	Form   QuotaRowView
	Errors map[string]string
	Flash  string
}

// ApprovalView is one approval request.
type ApprovalView struct {
	ID            string
	Kind          string
	Status        string
	Requester     string
	Team          string
	Template      string
	EnvironmentID string
	TTL           string
	Limit         string
	Reason        string
	Cost          string
	CreatedAt     time.Time
	DecidedBy     string
	DecidedAt     *time.Time
	Result        string
	CanDecide     bool
	Mine          bool
}

// ApprovalsPageView lists approval requests.
type ApprovalsPageView struct {
	Items   []ApprovalView
	Flash   string
	Error   string
	IsAdmin bool
}

// QuotaAsk is the launch form's offer, after a quota refused the launch,
// to ask for an approval instead.
type QuotaAsk struct {
	Limit  string
	Reason string
}

func quotaDeleteURL(q QuotaRowView) templ.SafeURL {
	return templ.SafeURL("/admin/quotas/" + url.PathEscape(q.Scope) + "/" + url.PathEscape(q.Name) + "/delete")
}

// launcherRole reports whether a role may launch (and so ask for or
// decide approvals).
func launcherRole(role string) bool { return role == "member" || role == "author" || role == "admin" }
