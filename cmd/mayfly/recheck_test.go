package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
)

// startRecheck runs the real Main with sign-in through o and the clock
// returned, which the test moves past --role-recheck (15m, the default)
// instead of waiting.
func startRecheck(t *testing.T, o *testOP, extra ...string) (*testServer, *testClock) {
	t.Helper()
	clock := &testClock{}
	cfg := signInConfig(t, o, extra...)
	cfg.Clock = clock.Now
	return runTestMain(t, cfg), clock
}

// userRow returns the users page's row of a user (by subject), as an
// admin sees it.
func userRow(t *testing.T, s *testServer, admin opSession, subject string) string {
	t.Helper()
	status, page, _ := call(t, s, "GET", "/admin/users", admin, "", "", "")
	if status != http.StatusOK {
		t.Fatalf("users page as %s: %d", admin.user, status)
	}
	i := strings.Index(page, `data-testid="user-subject">`+subject+"<")
	if i < 0 {
		t.Fatalf("the users page lists no %s", subject)
	}
	start := strings.LastIndex(page[:i], "<tr")
	end := strings.Index(page[i:], "</tr>")
	return page[start : i+end]
}

// TestRemovedAdminLosesRightsAtTheNextCheck: an admin signs in and makes an
// API token; the provider drops them from the admin group. Until the role
// is due for a re-check both keep admin rights; once it is due, the next
// use of either asks the provider (with the refresh token of the sign-in)
// and both are a member's: 403 on admin routes. The users page shows the
// check, the audit log the change.
func TestRemovedAdminLosesRightsAtTheNextCheck(t *testing.T) {
	o := startOP(t)
	s, clock := startRecheck(t, o)
	ada := signInAtOP(t, s, o, "ada")
	ivy := signInAtOP(t, s, o, "ivy") // an admin who stays one
	token := createTokenOnPage(t, s, ada, "ci", "")
	adminRoutes := func(want int, when string) {
		t.Helper()
		if status, body, _ := call(t, s, "GET", "/admin/users", ada, "", "", ""); status != want {
			t.Errorf("%s: ada's session on /admin/users: %d, want %d: %.200s", when, status, want, body)
		}
		if status, body, _ := call(t, s, "GET", "/api/v1/audit", opSession{}, token, "", ""); status != want {
			t.Errorf("%s: ada's token on /api/v1/audit: %d, want %d: %.200s", when, status, want, body)
		}
	}
	adminRoutes(http.StatusOK, "signed in")

	o.setGroups("ada", "developers", "team-platform")
	clock.Add(10 * time.Minute)
	adminRoutes(http.StatusOK, "removed at the provider, before the re-check is due")
	if n := o.refreshCount(); n != 0 {
		t.Errorf("%d refreshes before the role was due, want 0", n)
	}

	clock.Add(6 * time.Minute) // 16 minutes after sign-in
	checkedAt := clock.Now()
	adminRoutes(http.StatusForbidden, "after the re-check")
	if status, _, _ := call(t, s, "GET", "/api/v1/environments", ada, "", "", ""); status != http.StatusOK {
		t.Errorf("ada as a member reading environments: %d, want 200", status)
	}
	if n := o.refreshCount(); n != 1 {
		t.Errorf("%d refreshes for the session and the token, want 1 (one check for the user)", n)
	}
	row := userRow(t, s, ivy, "sub-ada")
	if !strings.Contains(row, `data-testid="user-check-result">ok<`) || !strings.Contains(row, ">member<") {
		t.Errorf("ada's row on the users page does not show a successful check and the member role: %s", row)
	}
	// The time shown is relative; its exact value is the datetime.
	at := row[strings.Index(row, `data-testid="user-check-at">`):]
	if i := strings.Index(at, `datetime="`); i >= 0 {
		at = at[i+len(`datetime="`):]
		at = at[:strings.Index(at, `"`)]
	}
	if got, err := time.Parse(time.RFC3339, at); err != nil || got.Sub(checkedAt) > 2*time.Second || checkedAt.Sub(got) > 2*time.Second {
		t.Errorf("ada's check shown at %q, want about %s", at, checkedAt.UTC().Format(time.RFC3339))
	}
	entries, err := s.Service.AuditLog(context.Background(), envs.System, envs.AuditFilter{Action: "user.recheck"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !strings.Contains(entries[0].Detail, "role admin -> member") {
		t.Errorf("audit of the re-check: %+v, want one entry with role admin -> member", entries)
	}

	// Put back in the group: the next check restores the role.
	o.setGroups("ada", "mayfly-admins")
	clock.Add(16 * time.Minute)
	adminRoutes(http.StatusOK, "back in the admin group after the next check")
}

// TestProviderRefusalEndsSessionsAtOnce: the provider refuses the refresh
// token (the person was deleted there): at the check the role drops to
// none and the session ends at once (no grace), and the API token says why.
func TestProviderRefusalEndsSessionsAtOnce(t *testing.T) {
	o := startOP(t)
	s, clock := startRecheck(t, o)
	bob := signInAtOP(t, s, o, "bob")
	ivy := signInAtOP(t, s, o, "ivy")
	token := createTokenOnPage(t, s, bob, "ci", "")
	o.deleteUser("bob")
	clock.Add(16 * time.Minute)
	status, _, hd := call(t, s, "GET", "/environments", bob, "", "", "")
	if status != http.StatusSeeOther || !strings.HasPrefix(hd.Get("Location"), "/signin") {
		t.Errorf("bob's browser after the provider refused: %d to %q, want 303 to sign in", status, hd.Get("Location"))
	}
	if status, _, _ := call(t, s, "GET", "/api/v1/environments", bob, "", "", ""); status != http.StatusUnauthorized {
		t.Errorf("bob's session on the API after the provider refused: %d, want 401", status)
	}
	if _, _, err := s.Service.SessionActor(context.Background(), bob.cookie, ""); envs.ErrorCode(err) != envs.EUnauthorized {
		t.Errorf("bob's session: %v, want ended", err)
	}
	status, body, _ := call(t, s, "GET", "/api/v1/environments", opSession{}, token, "", "")
	if status != http.StatusUnauthorized || !strings.Contains(body, "refused") {
		t.Errorf("bob's token after the provider refused: %d %s, want 401 saying the provider refused", status, body)
	}
	row := userRow(t, s, ivy, "sub-bob")
	if !strings.Contains(row, "provider refused") || !strings.Contains(row, ">none<") {
		t.Errorf("bob's row on the users page: %s, want provider refused and role none", row)
	}
}

// TestProviderUnreachableFailsClosedAfterTheGrace: while the provider
// cannot be reached, a role due for a re-check holds for one more interval
// (the users page says the provider is unreachable); after it, requests
// are refused with a message saying why, until a check succeeds.
func TestProviderUnreachableFailsClosedAfterTheGrace(t *testing.T) {
	o := startOP(t)
	s, clock := startRecheck(t, o)
	ada := signInAtOP(t, s, o, "ada")
	token := createTokenOnPage(t, s, ada, "ci", "")
	o.setDown(true)
	clock.Add(16 * time.Minute)
	if status, _, _ := call(t, s, "GET", "/admin/users", ada, "", "", ""); status != http.StatusOK {
		t.Errorf("within the grace: %d, want 200", status)
	}
	if row := userRow(t, s, ada, "sub-ada"); !strings.Contains(row, "provider unreachable") {
		t.Errorf("ada's row while the provider is down: %s, want provider unreachable", row)
	}
	clock.Add(15 * time.Minute) // 31 minutes: past the interval and its grace
	status, body, _ := call(t, s, "GET", "/admin/users", ada, "", "", "")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "could not reach the identity provider") {
		t.Errorf("after the grace: %d, want 503 saying the provider cannot be reached: %.300s", status, body)
	}
	status, body, _ = call(t, s, "GET", "/api/v1/environments", opSession{}, token, "", "")
	var p struct{ Detail string }
	_ = json.Unmarshal([]byte(body), &p)
	if status != http.StatusServiceUnavailable || !strings.Contains(p.Detail, "could not reach the identity provider") {
		t.Errorf("the token after the grace: %d %s, want 503 naming the reason", status, body)
	}
	if status, _, _ := call(t, s, "GET", "/healthz", ada, "", "", ""); status != http.StatusOK {
		t.Errorf("/healthz with the session: %d, want 200 (public routes do not depend on the provider)", status)
	}
	o.setDown(false)
	clock.Add(time.Minute) // the next attempt after a failed one
	if status, body, _ := call(t, s, "GET", "/admin/users", ada, "", "", ""); status != http.StatusOK {
		t.Errorf("the provider answers again: %d, want 200: %.300s", status, body)
	}
	if status, _, _ := call(t, s, "GET", "/api/v1/audit", opSession{}, token, "", ""); status != http.StatusOK {
		t.Errorf("the token once the provider answers again: %d, want 200", status)
	}
}

// TestOneRefreshAtATime: requests that find the same user due for a check
// at the same moment use the refresh token once (providers rotate it and
// refuse a reused one, which would sign the user out); all are answered.
func TestOneRefreshAtATime(t *testing.T) {
	o := startOP(t)
	s, clock := startRecheck(t, o)
	bob := signInAtOP(t, s, o, "bob")
	clock.Add(16 * time.Minute)
	var wg sync.WaitGroup
	statuses := make([]int, 6)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _, _ = call(t, s, "GET", "/api/v1/environments", bob, "", "", "")
		}()
	}
	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusOK {
			t.Errorf("request %d: %d, want 200", i, st)
		}
	}
	if n := o.refreshCount(); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
	if _, _, err := s.Service.SessionActor(context.Background(), bob.cookie, ""); err != nil {
		t.Errorf("bob's session after the checks: %v", err)
	}
}

// TestAccessThatCannotBeRechecked: without the offline_access scope there
// is no refresh token. While the sign-in's access token is valid the
// provider's userinfo endpoint is asked (and sees a changed group); once
// it has expired, a browser is sent to sign in again and an API token gets
// a 401 saying why.
func TestAccessThatCannotBeRechecked(t *testing.T) {
	o := startOP(t)
	// The provider's access tokens last 5 minutes of its own (real) clock:
	// a re-check interval of a second keeps the first check within that.
	s, clock := startRecheck(t, o, "--oidc-scopes", "profile,email,groups", "--role-recheck", "1s")
	ada := signInAtOP(t, s, o, "ada")
	token := createTokenOnPage(t, s, ada, "ci", "")
	o.setGroups("ada", "developers")
	clock.Add(2 * time.Second)
	if status, _, _ := call(t, s, "GET", "/api/v1/audit", opSession{}, token, "", ""); status != http.StatusForbidden {
		t.Errorf("after the userinfo check: %d, want 403 (a member now)", status)
	}
	if n := o.userinfoServed(); n != 1 {
		t.Errorf("userinfo asked %d times, want 1", n)
	}
	clock.Add(10 * time.Minute) // the access token has expired
	status, body, _ := call(t, s, "GET", "/api/v1/environments", opSession{}, token, "", "")
	if status != http.StatusUnauthorized || !strings.Contains(body, "no refresh token") {
		t.Errorf("the token without anything to re-check with: %d %s, want 401 naming the reason", status, body)
	}
	status, _, hd := call(t, s, "GET", "/environments", ada, "", "", "")
	if status != http.StatusSeeOther || !strings.HasPrefix(hd.Get("Location"), "/signin") {
		t.Errorf("the browser: %d to %q, want 303 to sign in again", status, hd.Get("Location"))
	}
	// Signing in again confirms the role afresh.
	again := signInAtOP(t, s, o, "ada")
	if status, _, _ := call(t, s, "GET", "/api/v1/environments", again, "", "", ""); status != http.StatusOK {
		t.Errorf("after signing in again: %d, want 200", status)
	}
}

// TestTokenRoleCap: a token is created with a role up to its creator's
// own and acts with the lower of that cap and its owner's current role;
// the tokens page shows the cap.
func TestTokenRoleCap(t *testing.T) {
	o := startOP(t)
	s := startSignIn(t, o)
	ada := signInAtOP(t, s, o, "ada")
	viewer := createTokenOnPage(t, s, ada, "read-only", "viewer")
	admin := createTokenOnPage(t, s, ada, "full", "")
	if status, _, _ := call(t, s, "GET", "/api/v1/audit", opSession{}, viewer, "", ""); status != http.StatusForbidden {
		t.Errorf("a viewer-capped token of an admin on an admin route: %d, want 403", status)
	}
	if status, _, _ := call(t, s, "GET", "/api/v1/environments", opSession{}, viewer, "", ""); status != http.StatusOK {
		t.Errorf("a viewer-capped token reading: %d, want 200", status)
	}
	if status, _, _ := call(t, s, "POST", "/api/v1/environments", opSession{}, viewer, "application/json", `{"template":"demo-shop"}`); status != http.StatusForbidden {
		t.Errorf("a viewer-capped token launching: %d, want 403", status)
	}
	if status, _, _ := call(t, s, "GET", "/api/v1/audit", opSession{}, admin, "", ""); status != http.StatusOK {
		t.Errorf("an admin's default token on an admin route: %d, want 200", status)
	}
	_, page, _ := call(t, s, "GET", "/tokens", ada, "", "", "")
	for _, want := range []string{`data-testid="token-role">viewer<`, `data-testid="token-role">admin<`} {
		if !strings.Contains(page, want) {
			t.Errorf("the tokens page lacks %s", want)
		}
	}
	bob := signInAtOP(t, s, o, "bob")
	status, body, _ := call(t, s, "POST", "/tokens", bob, "", "application/x-www-form-urlencoded", "name=up&role=admin")
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "cannot be above your own role") {
		t.Errorf("a member asking for an admin token: %d, want 422 naming the role: %.300s", status, body)
	}
	status, body, _ = call(t, s, "POST", "/tokens", bob, "", "application/x-www-form-urlencoded", "name=x&role=root")
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "is not a role") {
		t.Errorf("a token with an unknown role: %d, want 422: %.300s", status, body)
	}
}
