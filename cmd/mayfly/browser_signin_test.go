package main

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mayflyhq/mayfly/envs"
)

// TestBrowserSignInTokensAuditSignOut signs in through the real provider's
// login form in Chromium, creates and revokes an API token in the UI, looks
// at the audit log, and signs out.
func TestBrowserSignInTokensAuditSignOut(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	o := startOP(t)
	s := startSignIn(t, o)
	ctx := newBrowser(t)

	do(t, ctx, "sign in at the provider",
		chromedp.Navigate(s.url+"/environments"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="signin-button"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="signin-button"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#username`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), "ada"),
		chromedp.SendKeys(chromedp.CSS(`#password`), opPassword),
		chromedp.Submit(chromedp.CSS(`#password`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user"]`)),
	)
	if loc := value(t, ctx, "location", chromedp.Location()); loc != s.url+"/environments" {
		t.Errorf("after sign-in the browser is at %s, want the page it asked for", loc)
	}
	if who := value(t, ctx, "user", chromedp.Text(chromedp.CSS(`[data-testid="user"]`))); !strings.Contains(who, "ada@example.com") || !strings.Contains(who, "admin") {
		t.Errorf("signed in as %q, want ada@example.com, admin", who)
	}
	// The Content-Security-Policy lets the page's own scripts run.
	if ok := value(t, ctx, "htmx", chromedp.Evaluate[bool](`typeof window.htmx === "object"`)); !ok {
		t.Error("htmx did not load under the Content-Security-Policy")
	}

	do(t, ctx, "create a token",
		chromedp.Navigate(s.url+"/tokens"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="token-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`#token-name`), "pipeline"),
		chromedp.Submit(chromedp.CSS(`[data-testid="token-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="new-token-secret"]`)),
	)
	secret := strings.TrimSpace(value(t, ctx, "secret", chromedp.Text(chromedp.CSS(`[data-testid="new-token-secret"]`))))
	screenshot(t, ctx, "token-created")
	if got := bearerStatus(t, s, secret); got != http.StatusOK {
		t.Fatalf("API with the new token: %d, want 200", got)
	}
	do(t, ctx, "the secret is shown once",
		chromedp.Navigate(s.url+"/tokens"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="tokens"]`)),
	)
	if page := value(t, ctx, "tokens page", chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(page, secret) {
		t.Error("the tokens page shows the secret again")
	}
	do(t, ctx, "revoke it",
		chromedp.Click(chromedp.CSS(`[data-testid="token-revoke"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="token-state"]`)),
	)
	if got := bearerStatus(t, s, secret); got != http.StatusUnauthorized {
		t.Errorf("API with the revoked token: %d, want 401", got)
	}

	do(t, ctx, "audit log",
		chromedp.Navigate(s.url+"/admin/audit"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit"]`)),
	)
	actions := value(t, ctx, "actions", chromedp.Text(chromedp.CSS(`[data-testid="audit"]`)))
	for _, want := range []string{"auth.signin", "token.create", "token.revoke"} {
		if !strings.Contains(actions, want) {
			t.Errorf("the audit log lacks %s: %.500s", want, actions)
		}
	}
	screenshot(t, ctx, "audit-log")

	do(t, ctx, "sign out",
		chromedp.Click(chromedp.CSS(`[data-testid="signout"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="signed-out"]`)),
		chromedp.Navigate(s.url+"/environments"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="signin-button"]`)),
	)
}

// TestBrowserSignedInMemberLaunchesExtendsDestroys drives the forms and htmx
// actions with a session (minted, not scripted through the provider): the
// CSRF token must travel in the form's hidden field and htmx's header.
func TestBrowserSignedInMemberLaunchesExtendsDestroys(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	o := startOP(t)
	s := startSignIn(t, o)
	_, cookie, _ := mintSession(t, s, "bob", "developers", "team-shop")
	ctx := newBrowser(t)
	useSession(t, ctx, s, cookie)
	status := chromedp.Text(chromedp.CSS(`[data-testid="status"]`))
	expiry := chromedp.AttributeValue(chromedp.CSS(`#summary [data-expires-at]`), "data-expires-at")
	do(t, ctx, "launch from the form",
		chromedp.Navigate(s.url+"/templates/demo-shop/launch"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="launch-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="params.customer"]`), "Initech"),
		chromedp.Submit(chromedp.CSS(`[data-testid="launch-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="environment-page"]`)),
	)
	before := value(t, ctx, "expiry", expiry).Value
	do(t, ctx, "extend",
		chromedp.SetValue(chromedp.CSS(`[data-testid="extend-ttl"]`), "1h"),
		chromedp.Click(chromedp.CSS(`[data-testid="extend-button"]`)),
	)
	waitFor(t, ctx, "a new expiry", expiry, func(a chromedp.AttributeResult) bool { return a.Value != before })
	confirmDestroy(t, ctx)
	// Destroying is enough: the htmx POST (with its CSRF header) went
	// through. Waiting for destroyed would wait out a provision still
	// starting the shop, which under load takes long; cleanup closes Main
	// and then destroys every stack.
	waitFor(t, ctx, "status destroying or destroyed", status, func(s string) bool {
		s = strings.TrimSpace(s)
		return s == "destroying" || s == "destroyed"
	})
	entries, err := s.Service.AuditLog(context.Background(), envs.System, envs.AuditFilter{Actor: "bob@example.com", Result: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{"environment.launch", "environment.extend", "environment.destroy"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit log of bob = %v, want %s", actions, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
