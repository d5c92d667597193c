package web

import "time"

// SigninView is the sign-in page.
type SigninView struct {
	Return    string // where to go after signing in
	Issuer    string // the identity provider, shown to the user
	SignedOut bool   // just signed out
}

// TokensView is the API tokens page. NewSecret is shown once, right after
// a token was created, and never again.
type TokensView struct {
	Tokens    []TokenView
	NewSecret string
	NewName   string
	Errors    map[string]string // field -> message, on a refused create
	// Roles a new token may be capped at (up to the user's own, which is
	// the last and preselected).
	Roles []string
}

// TokenView is one API token (never its secret).
type TokenView struct {
	ID         string
	Name       string
	Prefix     string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	Revoked    bool
	Expired    bool
	// Role is the token's cap: it acts with the lower of this and its
	// owner's current role.
	Role string
}

// AuditView is the audit log page with its filters.
type AuditView struct {
	Entries []AuditEntryView
	Filter  AuditFilterView
	// ExportQuery is the filter as a query string, for the export links.
	ExportQuery string
	// Next and Prev are the older and newer pages ("" at an end);
	// PageSize is this page's size, one of PageSizes.
	Next, Prev string
	PageSize   int
	PageSizes  []int
}

// AuditFilterView holds the filter form's values.
type AuditFilterView struct {
	Actor, Action, Target, Result, Since, Until string
	// From and To are the date pickers' days (UTC, both included).
	From, To string
}

// AuditEntryView is one line of the audit log.
type AuditEntryView struct {
	ID      int64
	At      time.Time
	Actor   string
	Action  string
	Target  string
	Address string
	Result  string
	Detail  string
	Via     string // session, token <id>, local, system
	// The actor's user id and subject at its issuer (empty for local,
	// system and anonymous actors).
	ActorID, ActorIssuer, ActorSubject string
	// TargetURL is the page of what Target names ("" for none).
	TargetURL string
}

// UserRowView is one user on the admin's users page.
type UserRowView struct {
	ID, Email, Name, Issuer, Subject, Role string
	EmailUnverified                        bool // shown "(unverified)"
	Teams, Groups                          []string
	LastLoginAt                            time.Time
	// The last membership check: when it was, how it ended (ok, refused,
	// unreachable, signin_needed) and why; when the provider last
	// confirmed the role.
	CheckAt, ConfirmedAt     *time.Time
	CheckResult, CheckDetail string
}

// checkResultText words a membership check's result for admins.
func checkResultText(r string) string {
	switch r {
	case "ok":
		return "ok"
	case "refused":
		return "provider refused"
	case "unreachable":
		return "provider unreachable"
	case "signin_needed":
		return "cannot re-check: sign-in needed"
	case "":
		return "not checked yet"
	}
	return r
}
