package web_test

import (
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/web"
)

func TestTokensPageShowsTheSecretOnceAndCarriesCSRF(t *testing.T) {
	p := page("tokens")
	p.User = web.UserView{Name: "bob@example.com", SignedIn: true, Role: "member"}
	p.CSRFToken = "csrf-123"
	exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	tokens := []web.TokenView{
		{ID: "tok-live", Name: "ci", Prefix: "mfy_abcdef", CreatedAt: exp.AddDate(-1, 0, 0), ExpiresAt: &exp},
		{ID: "tok-gone", Name: "old", Prefix: "mfy_zzzzzz", CreatedAt: exp.AddDate(-1, 0, 0), Revoked: true},
	}
	doc := render(t, web.TokensPage(p, web.TokensView{Tokens: tokens}))
	if byTestID(doc, "new-token").Length() != 0 {
		t.Error("a secret box without a new token")
	}
	if n := byTestID(doc, "token-revoke").Length(); n != 1 {
		t.Errorf("%d revoke buttons, want 1 (the revoked token has none)", n)
	}
	for _, form := range []string{"token-form", "signout-form"} {
		if v, _ := byTestID(doc, form).Find(`input[name="_csrf"]`).Attr("value"); v != "csrf-123" {
			t.Errorf("%s: _csrf = %q, want the session's token", form, v)
		}
	}
	if v, _ := doc.Find(`meta[name="csrf-token"]`).Attr("content"); v != "csrf-123" {
		t.Errorf("csrf meta = %q", v)
	}

	doc = render(t, web.TokensPage(p, web.TokensView{Tokens: tokens, NewSecret: "mfy_secret", NewName: "ci"}))
	if got := one(t, byTestID(doc, "new-token-secret"), "secret").Text(); got != "mfy_secret" {
		t.Errorf("secret = %q", got)
	}
}

func TestNavForRoles(t *testing.T) {
	tests := []struct {
		name                 string
		user                 web.UserView
		tokens, audit, users bool
	}{
		{"member", web.UserView{Name: "bob", SignedIn: true, Role: "member"}, true, false, false},
		{"admin", web.UserView{Name: "ada", SignedIn: true, IsAdmin: true, Role: "admin"}, true, true, true},
		{"local mode", web.UserView{Name: "local", IsAdmin: true, LocalMode: true, Role: "admin"}, true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := page("catalog")
			p.User = tt.user
			doc := render(t, web.CatalogPage(p, nil))
			for id, want := range map[string]bool{"nav-tokens": tt.tokens, "nav-audit": tt.audit, "nav-users": tt.users, "signout": tt.user.SignedIn} {
				if got := byTestID(doc, id).Length() == 1; got != want {
					t.Errorf("%s shown = %v, want %v", id, got, want)
				}
			}
		})
	}
}
