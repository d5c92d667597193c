package main

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/mayflyhq/mayfly/envs"
)

// useSession gives the browser a minted session's cookie for s.
func useSession(t *testing.T, ctx context.Context, s *testServer, cookie string) {
	t.Helper()
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: "mayfly_session", Value: cookie, URL: s.url, HTTPOnly: ptr(true)}); err != nil {
		t.Fatal(err)
	}
}

// bearerStatus is the status of an API call made with an API token.
func bearerStatus(t *testing.T, s *testServer, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url+"/api/v1/environments", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestBrowserTokensPage: a token made on the tokens page is shown once,
// then listed by name and prefix only, and revoking it there ends it.
func TestBrowserTokensPage(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startSignIn(t, startOP(t))
	_, cookie, _ := mintSession(t, s, "erin", "everyone") // a viewer may have tokens
	ctx := newBrowser(t)
	useSession(t, ctx, s, cookie)

	do(t, ctx, "create a token",
		chromedp.Navigate(s.url+"/tokens"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="tokens-empty"]`)),
		chromedp.SendKeys(chromedp.CSS(`#token-name`), "nightly-deploy"),
		chromedp.SendKeys(chromedp.CSS(`#token-ttl`), "30d"),
		chromedp.Submit(chromedp.CSS(`[data-testid="token-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="new-token-secret"]`)),
	)
	secret := strings.TrimSpace(value(t, ctx, "secret", chromedp.Text(chromedp.CSS(`[data-testid="new-token-secret"]`))))
	if !strings.HasPrefix(secret, "mfy_") || len(secret) < 40 {
		t.Fatalf("shown secret %q, want an mfy_ token", secret)
	}
	if got := bearerStatus(t, s, secret); got != http.StatusOK {
		t.Fatalf("API with the new token: %d, want 200", got)
	}

	do(t, ctx, "list the tokens again",
		chromedp.Navigate(s.url+"/tokens"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid^="token-tok-"]`)),
	)
	if page := value(t, ctx, "page", chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(page, secret) || strings.Contains(page, "new-token-secret") {
		t.Error("the tokens page shows the secret again")
	}
	cells := value(t, ctx, "token row", chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid^="token-tok-"] td')].map(e => e.textContent.trim())`))
	if len(cells) < 5 || cells[0] != "nightly-deploy" || cells[1] != secret[:10]+"…" || cells[4] == "never" {
		t.Errorf("token row %q, want its name, its prefix %s… and a last use (the API call)", cells, secret[:10])
	}

	do(t, ctx, "revoke it",
		chromedp.Click(chromedp.CSS(`[data-testid="token-revoke"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="token-state"]`)),
	)
	if state := value(t, ctx, "state", chromedp.Text(chromedp.CSS(`[data-testid="token-state"]`))); strings.TrimSpace(state) != "revoked" {
		t.Errorf("token state %q, want revoked", state)
	}
	if got := bearerStatus(t, s, secret); got != http.StatusUnauthorized {
		t.Errorf("API with the revoked token: %d, want 401", got)
	}
}

// TestBrowserAuditFilter: an admin filters the audit log by action and
// actor and sees the action just done, and only matching entries.
func TestBrowserAuditFilter(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startSignIn(t, startOP(t))
	ctx := context.Background()
	ada, cookie, _ := mintSession(t, s, "ada", "mayfly-admins")
	erin, _, _ := mintSession(t, s, "erin", "everyone")
	_, tok, err := s.Service.CreateToken(ctx, erin, "erins", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Service.RevokeUserAccess(ctx, ada, erin.UserID); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	useSession(t, b, s, cookie)

	do(t, b, "filter by action and actor",
		chromedp.Navigate(s.url+"/admin/audit"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-filter"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="action"]`), "user."),
		chromedp.SendKeys(chromedp.CSS(`input[name="actor"]`), "ada@example.com"),
		chromedp.Click(chromedp.CSS(`[data-testid="audit-apply"]`)),
	)
	// The unfiltered page has rows too: wait for the filtered one to load.
	waitFor(t, b, "the filtered page", chromedp.Location(), func(l string) bool { return strings.Contains(l, "action=") })
	do(t, b, "filtered rows", chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-row"]`)))
	loc, _ := url.Parse(value(t, b, "location", chromedp.Location()))
	if q := loc.Query(); q.Get("action") != "user." || q.Get("actor") != "ada@example.com" {
		t.Errorf("filtered page at %s, want the filter in the query", loc)
	}
	actions := value(t, b, "actions", chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="audit-action"]')].map(e => e.textContent.trim())`))
	if len(actions) != 1 || actions[0] != "user.revoke_access" {
		t.Errorf("filtered actions %v, want just the revocation", actions)
	}
	rows := value(t, b, "rows", chromedp.Text(chromedp.CSS(`[data-testid="audit"]`)))
	if !strings.Contains(rows, erin.UserID) || !strings.Contains(rows, "ok") {
		t.Errorf("the revocation's row %q lacks its target %s or its result", rows, erin.UserID)
	}
	if v := value(t, b, "kept filter", chromedp.Value(chromedp.CSS(`input[name="action"]`))); v != "user." {
		t.Errorf("the action field shows %q after filtering, want it kept", v)
	}

	do(t, b, "filter by a target",
		chromedp.Navigate(s.url+"/admin/audit?target="+tok.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-row"]`)),
	)
	actions = value(t, b, "actions", chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="audit-action"]')].map(e => e.textContent.trim())`))
	if len(actions) != 1 || actions[0] != "token.create" {
		t.Errorf("actions on the token %v, want its creation", actions)
	}
}

// TestBrowserEndedSessionGoesToSignIn: with a page open, the session is
// revoked on the server. An htmx action then sends the whole page to the
// sign-in page (HX-Redirect), never into a fragment; and with no action at
// all, the environment's live stream notices within its recheck interval
// and sends the page there too.
func TestBrowserEndedSessionGoesToSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	o := startOP(t)
	// Each case has a browser of its own, and so the whole of newBrowser's
	// time budget.
	var b context.Context
	tests := []struct {
		name    string
		recheck time.Duration
		act     func(t *testing.T)
	}{
		// The stream would notice only in an hour: the htmx request does it.
		{"htmx action", time.Hour, func(t *testing.T) {
			// One step in the page: a live update may swap the button
			// between a query and a click of chromedp's.
			do(t, b, "extend", chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid="extend-button"]').click()`))
		}},
		{"live stream", 300 * time.Millisecond, func(t *testing.T) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b = newBrowser(t)
			cfg := signInConfig(t, o)
			cfg.AuthRecheck = tt.recheck
			s := runTestMain(t, cfg)
			bob, cookie, _, env := launchTiny(t, s)
			useSession(t, b, s, cookie)
			do(t, b, "open the environment",
				chromedp.Navigate(s.url+"/environments/"+env.ID),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="extend-button"]`)),
				// Only the request under test may notice: the logs panel's
				// polling (htmx too) is taken off the page.
				chromedp.Evaluate[chromedp.Void](`document.getElementById("logs").remove(); window.__mayflyMarker = "open"`),
			)
			if err := s.Service.SignOut(context.Background(), bob, cookie); err != nil {
				t.Fatal(err)
			}
			tt.act(t)
			waitFor(t, b, "the sign-in page", chromedp.Location(), func(loc string) bool {
				return strings.HasPrefix(loc, s.url+"/signin")
			})
			do(t, b, "sign-in page", chromedp.WaitVisible(chromedp.CSS(`[data-testid="signin-button"]`)))
			loc, _ := url.Parse(value(t, b, "location", chromedp.Location()))
			if ret := loc.Query().Get("return"); ret != "/environments/"+env.ID {
				t.Errorf("sign-in at %s returns to %q, want the environment's page", loc, ret)
			}
			// A new top-level page: the old page's marker and content are gone.
			state := value(t, b, "page state", chromedp.Evaluate[[]any](
				`[String(window.__mayflyMarker), document.querySelectorAll('[data-testid="signin-button"]').length, !!document.getElementById("environment")]`))
			if state[0] != "undefined" || state[1] != float64(1) || state[2] != false {
				t.Errorf("page after the session ended: marker %v, %v sign-in buttons, environment page %v; want a fresh sign-in page", state[0], state[1], state[2])
			}
		})
	}
}

// TestBrowserTokenRoleUsersAndOwners: an admin makes a read-only token on
// the tokens page (its row says viewer, and the API refuses it a launch),
// sees on the users page who is who (the subject, an unverified address
// flagged, whether membership was checked), and the catalog names each
// template's owning team.
func TestBrowserTokenRoleUsersAndOwners(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startSignIn(t, startOP(t))
	_, cookie, _ := mintSession(t, s, "ada", "mayfly-admins")
	unverified := false
	if _, err := s.Service.SignIn(context.Background(), envs.Claims{Issuer: s.Config.OIDCIssuer, Subject: "sub-mallory",
		Email: "ada@example.com", EmailVerified: &unverified, Name: "Mallory"}, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	useSession(t, ctx, s, cookie)

	do(t, ctx, "create a viewer token",
		chromedp.Navigate(s.url+"/tokens"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="token-role-select"]`)),
		chromedp.SendKeys(chromedp.CSS(`#token-name`), "dashboards"),
		chromedp.SetValue(chromedp.CSS(`[data-testid="token-role-select"]`), "viewer"),
		chromedp.Submit(chromedp.CSS(`[data-testid="token-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="new-token-secret"]`)),
	)
	secret := strings.TrimSpace(value(t, ctx, "secret", chromedp.Text(chromedp.CSS(`[data-testid="new-token-secret"]`))))
	if role := strings.TrimSpace(value(t, ctx, "token role", chromedp.Text(chromedp.CSS(`[data-testid="token-role"]`)))); role != "viewer" {
		t.Errorf("the token's row says role %q, want viewer", role)
	}
	if got := bearerStatus(t, s, secret); got != http.StatusOK {
		t.Errorf("reading with the viewer token: %d, want 200", got)
	}
	r := bearer(t, s, secret, "POST", "/api/v1/environments", "application/json", `{"template":"tiny","params":{"password":"pw"}}`)
	if r.Status != http.StatusForbidden {
		t.Errorf("an admin's viewer token launched: %d %s, want 403", r.Status, r.Body)
	}

	do(t, ctx, "open the users page",
		chromedp.Navigate(s.url+"/admin/users"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="users"]`)),
	)
	rows := value(t, ctx, "user rows", chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid^="user-usr-"]')].map(e => e.innerText)`))
	var mallory string
	for _, row := range rows {
		if strings.Contains(row, "sub-mallory") {
			mallory = row
		}
	}
	if !strings.Contains(mallory, "ada@example.com (unverified)") || !strings.Contains(mallory, "Mallory") {
		t.Errorf("the users page shows mallory as %q, want her name, her subject and the address flagged (unverified)", mallory)
	}
	// Signing in is the first confirmation of a membership.
	if len(rows) != 2 || !strings.Contains(rows[0], "\tok\n") || !strings.Contains(rows[1], "\tok\n") {
		t.Errorf("the users page does not say that both memberships were checked: %q", rows)
	}

	do(t, ctx, "open the catalog",
		chromedp.Navigate(s.url+"/catalog"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="owner"]`)),
	)
	owners := value(t, ctx, "owners", chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="owner"]')].map(e => e.textContent.trim())`))
	if !slices.Contains(owners, "sales-engineering") || !slices.Contains(owners, "operations") {
		t.Errorf("the catalog names the owning teams %q, want the samples' sales-engineering and operations", owners)
	}
}
