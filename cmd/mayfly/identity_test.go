package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
)

// opSession is someone signed in through the test provider's login form.
type opSession struct {
	user, cookie, csrf string
}

// signInAtOP signs user in through the real provider and returns their
// session cookie and its CSRF token (which a page would carry).
func signInAtOP(t *testing.T, s *testServer, o *testOP, user string) opSession {
	t.Helper()
	c := browserless(t)
	resp := loginAtOP(t, c, s.url+"/auth/signin?return=/catalog", user)
	resp.Body.Close()
	ck := sessionCookie(t, c, s)
	if ck == "" {
		t.Fatalf("%s: no session after sign-in (at %s, status %d)", user, resp.Request.URL, resp.StatusCode)
	}
	_, csrf, err := s.Service.SessionActor(context.Background(), ck, "")
	if err != nil {
		t.Fatalf("%s: session after sign-in: %v", user, err)
	}
	return opSession{user: user, cookie: ck, csrf: csrf}
}

// call makes a request with a session (and its CSRF token) or a bearer
// token, without following redirects, and returns the status and body.
func call(t *testing.T, s *testServer, method, path string, who opSession, bearer, contentType, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if who.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "mayfly_session", Value: who.cookie})
		req.Header.Set("X-CSRF-Token", who.csrf)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	client := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

var tokenSecretRe = regexp.MustCompile(`data-testid="new-token-secret">(mfy_[A-Za-z0-9_-]+)<`)

// createTokenOnPage creates an API token on the tokens page, as its user
// would, and returns its secret (role "" leaves the form's default).
func createTokenOnPage(t *testing.T, s *testServer, who opSession, name, role string) string {
	t.Helper()
	form := url.Values{"name": {name}}
	if role != "" {
		form.Set("role", role)
	}
	status, body, _ := call(t, s, "POST", "/tokens", who, "", "application/x-www-form-urlencoded", form.Encode())
	m := tokenSecretRe.FindStringSubmatch(body)
	if status != http.StatusCreated || m == nil {
		t.Fatalf("%s creating token %s: status %d, no secret on the page: %.400s", who.user, name, status, body)
	}
	return m[1]
}

// TestSameEmailOtherSubjectIsAnotherUser: accounts are told apart by their
// issuer and subject, never by the e-mail address their token carries.
// mallory's account at the provider claims bob's address without having
// verified it, robert's has it verified at another account: neither may
// extend or destroy bob's environment, both are users of their own (the
// unverified address flagged, and not used as mallory's name), and the
// audit log records each one's subject.
func TestSameEmailOtherSubjectIsAnotherUser(t *testing.T) {
	o := startOP(t)
	s := startSignIn(t, o)
	ctx := context.Background()
	if _, _, err := s.Service.Publish(ctx, envs.System, []byte(publishedTemplate)); err != nil {
		t.Fatal(err)
	}
	bob := signInAtOP(t, s, o, "bob")
	bobActor, _, err := s.Service.SessionActor(ctx, bob.cookie, "")
	if err != nil {
		t.Fatal(err)
	}
	env, err := s.Service.Launch(ctx, bobActor, envs.LaunchRequest{Template: "tiny", Params: map[string]any{"password": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	extend := "/api/v1/environments/" + env.ID + "/extend"
	for _, user := range []string{"mallory", "robert"} {
		who := signInAtOP(t, s, o, user)
		if status, body, _ := call(t, s, "POST", extend, who, "", "application/json", `{"ttl":"1m"}`); status != http.StatusForbidden {
			t.Errorf("%s (e-mail bob@example.com) extending bob's environment: %d, want 403: %s", user, status, body)
		}
		if status, body, _ := call(t, s, "DELETE", "/api/v1/environments/"+env.ID, who, "", "", ""); status != http.StatusForbidden {
			t.Errorf("%s (e-mail bob@example.com) destroying bob's environment: %d, want 403: %s", user, status, body)
		}
	}
	if status, body, _ := call(t, s, "POST", extend, bob, "", "application/json", `{"ttl":"1m"}`); status != http.StatusOK {
		t.Errorf("bob extending his own environment: %d: %s", status, body)
	}

	ada := signInAtOP(t, s, o, "ada")
	status, body, _ := call(t, s, "GET", "/api/v1/environments/"+env.ID, ada, "", "", "")
	var got struct {
		Owner   string `json:"owner"`
		OwnerID string `json:"owner_id"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || status != http.StatusOK {
		t.Fatalf("environment: %d %s", status, body)
	}
	if got.Owner != "bob@example.com" || got.OwnerID != bobActor.UserID || got.OwnerID == "" {
		t.Errorf("environment owner %q id %q, want bob@example.com %q", got.Owner, got.OwnerID, bobActor.UserID)
	}

	// Three users with bob's address, one of them flagged, each with the
	// subject the provider gave.
	status, page, _ := call(t, s, "GET", "/admin/users", ada, "", "", "")
	if status != http.StatusOK {
		t.Fatalf("users page: %d", status)
	}
	for _, sub := range []string{"sub-bob", "sub-mallory", "sub-robert"} {
		if !strings.Contains(page, `data-testid="user-subject">`+sub+"<") {
			t.Errorf("the users page does not list subject %s", sub)
		}
	}
	if n := strings.Count(page, `data-testid="email-unverified"`); n != 1 {
		t.Errorf("the users page flags %d addresses as unverified, want 1 (mallory's)", n)
	}
	users, err := s.Service.Users(ctx, envs.System)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, u := range users {
		names[u.Subject] = u.Email
		if u.Issuer != o.URL {
			t.Errorf("user %s: issuer %q, want %q", u.Subject, u.Issuer, o.URL)
		}
		if u.Subject == "sub-mallory" && !u.EmailUnverified {
			t.Errorf("mallory's address is not flagged unverified: %+v", u)
		}
	}

	// The audit log tells the three apart by subject; mallory's name is not
	// bob's address.
	status, body, _ = call(t, s, "GET", "/api/v1/audit?action=environment.", ada, "", "", "")
	var audit struct {
		Items []struct {
			Actor        string `json:"actor"`
			Action       string `json:"action"`
			Result       string `json:"result"`
			ActorID      string `json:"actor_id"`
			ActorIssuer  string `json:"actor_issuer"`
			ActorSubject string `json:"actor_subject"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &audit); err != nil || status != http.StatusOK {
		t.Fatalf("audit: %d %s", status, body)
	}
	seen := map[string]string{} // subject -> actor name
	for _, e := range audit.Items {
		if e.Action == "environment.extend" {
			seen[e.ActorSubject] = e.Actor
			if e.ActorID == "" || e.ActorIssuer != o.URL {
				t.Errorf("audit entry of %s: id %q issuer %q, want the user id and %s", e.ActorSubject, e.ActorID, e.ActorIssuer, o.URL)
			}
		}
	}
	for _, sub := range []string{"sub-bob", "sub-mallory", "sub-robert"} {
		if _, ok := seen[sub]; !ok {
			t.Errorf("no extend audited with subject %s: %+v", sub, audit.Items)
		}
	}
	if name := seen["sub-mallory"]; name == "bob@example.com" || !strings.Contains(name, "sub-mallory") {
		t.Errorf("mallory is audited as %q: an unverified address must not be her name", name)
	}
	status, csv, _ := call(t, s, "GET", "/admin/audit/export?format=csv&action=environment.extend", ada, "", "", "")
	if status != http.StatusOK || !strings.Contains(csv, "actor_subject") || !strings.Contains(csv, ",sub-mallory") {
		t.Errorf("CSV export: %d, want the actor_subject column with sub-mallory: %.300s", status, csv)
	}
	status, auditPage, _ := call(t, s, "GET", "/admin/audit?action=environment.extend", ada, "", "", "")
	if status != http.StatusOK || !strings.Contains(auditPage, `data-testid="audit-subject">sub-robert`) {
		t.Errorf("audit page: %d, want robert's subject shown", status)
	}
}

// testClock is the portal's clock, moved by the test (the provider keeps
// real time, so it runs on from now).
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}
