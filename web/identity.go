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
}

// AuditView is the audit log page with its filters.
type AuditView struct {
	Entries []AuditEntryView
	Filter  AuditFilterView
	// ExportQuery is the filter as a query string, for the export links.
	ExportQuery string
}

// AuditFilterView holds the filter form's values.
type AuditFilterView struct {
	Actor, Action, Target, Result, Since, Until string
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
}

// timeOr formats an optional time, or returns def.
func timeOr(t *time.Time, def string) string {
	if t == nil {
		return def
	}
	return RFC3339(*t)
}

// UserRowView is one user on the admin's users page.
type UserRowView struct {
	ID, Email, Name, Subject, Role string
	Teams, Groups                  []string
	LastLoginAt                    time.Time
}
