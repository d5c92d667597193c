package web

// LifecycleView is the environment page's "Keeping it up" card: when it
// was last used, why it is still running (or when it starts again), the
// proxy link that counts as activity, and its schedule's form.
type LifecycleView struct {
	EnvironmentID string
	// LastActive is "active 5m ago via proxy".
	LastActive string
	// Reasons are why it is still running, or stopped: "expires in 3h",
	// "schedule keeps it until 19:00 America/New_York", ...
	Reasons []string
	// ProxyURL is Mayfly's link to its URL output ("" when not ready).
	ProxyURL string
	// RelaunchedAs is the environment its schedule started in its place.
	RelaunchedAs string
	// Override is the environment's own setting: "" (the team's), "off",
	// "custom"; Stop, Start, TZ its own schedule's fields.
	Override        string
	Stop, Start, TZ string
	Team            string
	TeamURL         string // its team's schedule page
	TeamSchedule    string // the team's default, as people read it ("" none)
	CanEdit         bool
	// CanCancelStart offers to keep one its schedule stopped from
	// starting again.
	CanCancelStart bool
	CSRFToken      string
	Flash          string
}

// TeamScheduleView is a team's default working hours page.
type TeamScheduleView struct {
	Team            string
	URL             string // where the form posts
	Set             bool
	Stop, Start, TZ string
	CSRFToken       string
	Flash           string
}
