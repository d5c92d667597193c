package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
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
	apiStatus := func() int {
		req, _ := http.NewRequest("GET", s.url+"/api/v1/environments", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := apiStatus(); got != http.StatusOK {
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
	if got := apiStatus(); got != http.StatusUnauthorized {
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
