package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/static"
)

// identity is one way a request can arrive: a browser session, an API
// token, or nothing.
type identity struct {
	name    string
	cookie  string // session token
	csrf    string
	bearer  string
	role    envs.Role
	owner   bool // owns (or is in the team of) the environment under test
	invalid bool // a session or token that no longer works
}

// mintSession signs someone in directly through the service, as the
// identity provider's callback would (STYLE 13: only the sign-in tests
// script the provider).
func mintSession(t *testing.T, s *testServer, user string, groups ...string) (envs.Actor, string, string) {
	t.Helper()
	ctx := context.Background()
	sess, err := s.Service.SignIn(ctx, envs.Claims{Issuer: s.Config.OIDCIssuer, Subject: "sub-" + user, Email: user + "@example.com", Name: user, Groups: groups}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	a, csrf, err := s.Service.SessionActor(ctx, sess.Token, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return a, sess.Token, csrf
}

// launchTiny publishes the tiny template and launches it as bob (a
// member of team shop, signed in with a minted session).
func launchTiny(t *testing.T, s *testServer) (bob envs.Actor, cookie, csrf string, env *envs.Environment) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := s.Service.Publish(ctx, envs.System, []byte(publishedTemplate)); err != nil {
		t.Fatal(err)
	}
	bob, cookie, csrf = mintSession(t, s, "bob", "developers", "team-shop")
	env, err := s.Service.Launch(ctx, bob, envs.LaunchRequest{Template: "tiny", Params: map[string]any{"password": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	return bob, cookie, csrf, env
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

type route struct {
	method, path, body, contentType string
	perm                            envs.Permission // "" for public routes
	object                          bool            // acts on bob's environment: owner, team or admin only
	want                            string          // overrides the rule (see expect)
	onSite                          bool            // a redirect, and the sign-in link, must stay on the site
}

func (r route) api() bool { return strings.HasPrefix(r.path, "/api/") }

// TestEveryRouteWithEveryIdentity walks every route with every role, with no
// session, an ended session, and revoked or expired tokens, and checks that
// the request is let through or refused as the rules say.
func TestEveryRouteWithEveryIdentity(t *testing.T) {
	if testing.Short() {
		t.Skip("launches environments")
	}
	o := startOP(t)
	s := startSignIn(t, o, "--signin-rate-limit", "1000", "--token-rate-burst", "1000", "--allowed-hosts", "mayfly.internal")
	ctx := context.Background()
	older := strings.Replace(publishedTemplate, "version: 1.0.0", "version: 0.9.0", 1)
	for _, src := range []string{older, publishedTemplate} {
		if _, _, err := s.Service.Publish(ctx, envs.System, []byte(src)); err != nil {
			t.Fatal(err)
		}
	}
	bob, bobCookie, bobCSRF := mintSession(t, s, "bob", "developers", "team-shop")
	env, err := s.Service.Launch(ctx, bob, envs.LaunchRequest{Template: "tiny", Params: map[string]any{"password": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	bobToken, _, err := s.Service.CreateToken(ctx, bob, "ci", "", "")
	if err != nil {
		t.Fatal(err)
	}
	_, victim, err := s.Service.CreateToken(ctx, bob, "to-revoke", "", "")
	if err != nil {
		t.Fatal(err)
	}

	ids := []identity{{name: "anonymous", invalid: true}}
	add := func(name string, role envs.Role, owner bool, user string, groups ...string) {
		_, ck, csrf := mintSession(t, s, user, groups...)
		ids = append(ids, identity{name: name, cookie: ck, csrf: csrf, role: role, owner: owner})
	}
	ids = append(ids, identity{name: "member owner (session)", cookie: bobCookie, csrf: bobCSRF, role: envs.RoleMember, owner: true})
	add("member same team", envs.RoleMember, true, "bea", "developers", "team-shop")
	add("member other team", envs.RoleMember, false, "carol", "developers", "team-data")
	add("viewer", envs.RoleViewer, false, "erin", "everyone")
	add("author", envs.RoleAuthor, false, "dave", "authors", "team-tests") // tiny's owning team
	add("admin", envs.RoleAdmin, true, "ada", "mayfly-admins")
	add("no role", envs.RoleNone, false, "frank")
	ids = append(ids, identity{name: "member owner (token)", bearer: bobToken, role: envs.RoleMember, owner: true})

	_, revoked, _ := mintSession(t, s, "gus", "mayfly-admins")
	gus, _, _ := s.Service.SessionActor(ctx, revoked, "")
	if err := s.Service.SignOut(ctx, gus, revoked); err != nil {
		t.Fatal(err)
	}
	_, idle, _ := mintSession(t, s, "hal", "mayfly-admins")
	_, old, _ := mintSession(t, s, "ida", "mayfly-admins")
	execSQL(t, s, `UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?`, time.Now().UTC().Add(-9*time.Hour), hashHex(idle))
	execSQL(t, s, `UPDATE sessions SET expires_at = ? WHERE token_hash = ?`, time.Now().UTC().Add(-time.Minute), hashHex(old))
	ada, _, _ := mintSession(t, s, "ada", "mayfly-admins")
	revokedTok, rt, _ := s.Service.CreateToken(ctx, ada, "revoked", "", "")
	if err := s.Service.RevokeToken(ctx, ada, rt.ID); err != nil {
		t.Fatal(err)
	}
	expiredTok, et, _ := s.Service.CreateToken(ctx, ada, "expired", "", "")
	execSQL(t, s, `UPDATE api_tokens SET expires_at = ? WHERE id = ?`, time.Now().UTC().Add(-time.Minute), et.ID)
	ids = append(ids,
		identity{name: "revoked session", cookie: revoked, invalid: true},
		identity{name: "idle session", cookie: idle, invalid: true},
		identity{name: "expired session", cookie: old, invalid: true},
		identity{name: "revoked token", bearer: revokedTok, invalid: true},
		identity{name: "expired token", bearer: expiredTok, invalid: true},
		identity{name: "unknown token", bearer: "mfy_" + strings.Repeat("A", 43), invalid: true},
	)

	zed, zedCookie, _ := mintSession(t, s, "zed", "developers")
	zedToken, _, err := s.Service.CreateToken(ctx, zed, "zed-ci", "", "")
	if err != nil {
		t.Fatal(err)
	}

	id := env.ID
	form := "application/x-www-form-urlencoded"
	read, launch, publish, admin, tokens := envs.PermRead, envs.PermLaunch, envs.PermPublish, envs.PermAdmin, envs.PermTokens
	routes := []route{
		{method: "GET", path: "/healthz"},
		{method: "GET", path: "/readyz"},
		{method: "GET", path: "/metrics"},
		{method: "GET", path: "/signin"},
		{method: "GET", path: "/auth/signin"},
		{method: "GET", path: "/auth/callback?state=forged&code=x", want: "401"},
		{method: "GET", path: static.URL("app.css")},
		// Browsers drop tabs and newlines from URLs and read a backslash as
		// a slash: none of these may send anyone off the site.
		{method: "GET", path: "/signin?return=/%09/evil.example", onSite: true},
		{method: "GET", path: "/signin?return=/%0A/evil.example", onSite: true},
		{method: "GET", path: "/signin?return=/%5Cevil.example", onSite: true},
		{method: "GET", path: "/signin?return=/x%5C..%5C%5Cevil.example", onSite: true},
		{method: "GET", path: "/signin?return=//evil.example", onSite: true},
		{method: "GET", path: "/signin?return=https://evil.example/", onSite: true},
		{method: "GET", path: "/auth/signin?return=/%09/evil.example", onSite: true},
		{method: "GET", path: "/", perm: read},
		{method: "GET", path: "/catalog", perm: read},
		{method: "GET", path: "/templates/tiny/launch", perm: launch},
		{method: "POST", path: "/templates/tiny/launch", body: "params.password=pw&ttl=1h", contentType: form, perm: launch},
		{method: "GET", path: "/environments", perm: read},
		{method: "GET", path: "/environments/" + id, perm: read},
		{method: "GET", path: "/environments/" + id + "/stream", perm: read},
		{method: "GET", path: "/environments/" + id + "/logs", perm: read},
		{method: "POST", path: "/environments/" + id + "/extend", body: "ttl=1m", contentType: form, perm: launch, object: true},
		{method: "GET", path: "/environments/" + id + "/drift", perm: read},
		{method: "POST", path: "/environments/" + id + "/drift-check", perm: launch, object: true},
		{method: "GET", path: "/admin", perm: admin},
		{method: "GET", path: "/admin/audit", perm: admin},
		{method: "GET", path: "/admin/audit/export?format=csv", perm: admin},
		{method: "GET", path: "/admin/users", perm: admin},
		{method: "GET", path: "/tokens", perm: tokens},
		{method: "POST", path: "/tokens", body: "name=walk", contentType: form, perm: tokens},
		{method: "GET", path: "/api/v1/templates", perm: read},
		{method: "POST", path: "/api/v1/templates", body: publishedTemplate, contentType: "application/yaml", perm: publish},
		{method: "GET", path: "/api/v1/templates/tiny", perm: read},
		{method: "POST", path: "/api/v1/templates/tiny/versions/0.9.0/deprecate", body: `{}`, contentType: "application/json", perm: publish},
		{method: "POST", path: "/api/v1/templates/tiny/rollouts", body: `{"version":"1.0.0"}`, contentType: "application/json", perm: publish},
		{method: "GET", path: "/api/v1/templates/tiny/rollouts", perm: read},
		{method: "GET", path: "/api/v1/environments", perm: read},
		{method: "POST", path: "/api/v1/environments", body: `{"template":"tiny","params":{"password":"pw"}}`, contentType: "application/json", perm: launch},
		{method: "GET", path: "/api/v1/environments/" + id, perm: read},
		{method: "GET", path: "/api/v1/environments/" + id + "/events", perm: read},
		{method: "GET", path: "/api/v1/environments/" + id + "/logs", perm: read},
		{method: "POST", path: "/api/v1/environments/" + id + "/extend", body: `{"ttl":"1m"}`, contentType: "application/json", perm: launch, object: true},
		{method: "POST", path: "/api/v1/environments/" + id + "/drift-check", perm: launch, object: true},
		{method: "GET", path: "/api/v1/audit", perm: admin},
		{method: "GET", path: "/templates/tiny/drills", perm: read},
		{method: "GET", path: "/templates/new", perm: publish},
		{method: "GET", path: "/templates/new?from=tiny", perm: publish},
		{method: "POST", path: "/templates", body: "source=" + url.QueryEscape(publishedTemplate), contentType: form, perm: publish},
		{method: "POST", path: "/templates/tiny/rollouts", body: "version=1.0.0&wave_size=2", contentType: form, perm: publish},
		{method: "POST", path: "/templates/tiny/versions/1.0.0/deprecate", body: "note=walk", contentType: form, perm: publish},
		{method: "GET", path: "/api/v1/templates/tiny/choices", perm: read},
		{method: "GET", path: "/api/v1/templates/tiny/drills", perm: read},
		{method: "GET", path: "/api/v1/admin/providers", perm: admin},
		{method: "POST", path: "/environments/" + id + "/retry-destroy", body: "", contentType: form, perm: admin},
		{method: "POST", path: "/api/v1/environments/" + id + "/retry-destroy", body: `{}`, contentType: "application/json", perm: admin},
		{method: "GET", path: "/cost", perm: read},
		{method: "GET", path: "/savings", perm: read},
		{method: "GET", path: "/api/v1/cost", perm: read},
		{method: "GET", path: "/api/v1/savings?days=7", perm: read},
		{method: "GET", path: "/templates/tiny/launch/cost?ttl=1h", perm: launch},
		{method: "GET", path: "/approvals", perm: launch},
		{method: "GET", path: "/api/v1/approvals", perm: launch},
		{method: "POST", path: "/approvals", body: "kind=extend&ttl=1m&environment_id=" + id, contentType: form, perm: launch, object: true},
		{method: "POST", path: "/api/v1/approvals", body: `{"kind":"extend","ttl":"1m","environment_id":"` + id + `"}`, contentType: "application/json", perm: launch, object: true},
		{method: "POST", path: "/approvals/apr-none/approve", perm: launch},
		{method: "POST", path: "/api/v1/approvals/apr-none/deny", body: `{}`, contentType: "application/json", perm: launch},
		{method: "GET", path: "/admin/quotas", perm: admin},
		{method: "GET", path: "/settings/notifications", perm: read},
		{method: "GET", path: "/api/v1/notifications/channels", perm: read},
		{method: "GET", path: "/admin/notifications", perm: admin},
		{method: "GET", path: "/api/v1/notifications/deliveries", perm: admin},
		// A one-click link is authorised by its signature alone: a forged
		// one is refused to everyone, signed in or not.
		{method: "GET", path: "/links/lnk-forged.AAAA", want: "403"},
		{method: "POST", path: "/links/lnk-forged.AAAA", contentType: form, want: "403"},
		{method: "POST", path: "/admin/quotas", body: "scope=team&name=walk&max_live=100", contentType: form, perm: admin},
		{method: "GET", path: "/api/v1/quotas", perm: admin},
		{method: "PUT", path: "/api/v1/quotas/team/walk", body: `{"max_live":100}`, contentType: "application/json", perm: admin},
		{method: "DELETE", path: "/api/v1/quotas/team/walk", perm: admin},
		// Anyone who may launch may launch again (typing the secret: only
		// bob's own relaunches could re-use it).
		{method: "GET", path: "/environments/" + id + "/relaunch", perm: launch},
		{method: "POST", path: "/environments/" + id + "/relaunch", body: "params.password=pw&ttl=1h", contentType: form, perm: launch},
		{method: "POST", path: "/api/v1/environments/" + id + "/relaunch", body: `{"params":{"password":"pw"}}`, contentType: "application/json", perm: launch},
		// Last: these end the environment or the token under test.
		{method: "POST", path: "/tokens/" + victim.ID + "/revoke", perm: tokens, object: true},
		{method: "POST", path: "/environments/" + id + "/destroy", perm: launch, object: true},
		{method: "DELETE", path: "/api/v1/environments/" + id, perm: launch, object: true},
		{method: "POST", path: "/admin/users/" + zed.UserID + "/revoke", perm: admin},
	}
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// Each request also comes with the Host of a page whose name was rebound
	// to the portal's address (DNS rebinding): refused before anything
	// runs, but for the probes, which kubelets and scrapers address by IP.
	const rebound = "evil.example:8080"
	for _, r := range routes {
		for _, who := range ids {
			for _, host := range []string{"", rebound} {
				name := fmt.Sprintf("%s %s as %s", r.method, r.path, who.name)
				if host != "" {
					name += " for " + host
				}
				req, err := http.NewRequest(r.method, s.url+r.path, strings.NewReader(r.body))
				if err != nil {
					t.Fatal(err)
				}
				req.Host = host
				if r.contentType != "" {
					req.Header.Set("Content-Type", r.contentType)
				}
				if who.cookie != "" {
					req.AddCookie(&http.Cookie{Name: "mayfly_session", Value: who.cookie})
					req.Header.Set("X-CSRF-Token", who.csrf) // as app.js sends it
				}
				if who.bearer != "" {
					req.Header.Set("Authorization", "Bearer "+who.bearer)
				}
				rctx, cancel := context.WithCancel(ctx)
				resp, err := noFollow.Do(req.WithContext(rctx))
				if err != nil {
					cancel()
					t.Fatalf("%s: %v", name, err)
				}
				var body []byte
				if !strings.HasSuffix(r.path, "/stream") || resp.StatusCode != http.StatusOK {
					body, _ = io.ReadAll(resp.Body)
				}
				resp.Body.Close()
				cancel()
				got, want := resp.StatusCode, expect(r, who)
				if host == rebound && !probeRoute(r.path) {
					want = "421"
				}
				if r.onSite {
					if loc := resp.Header.Get("Location"); loc != "" && !onSite(loc) && !strings.HasPrefix(loc, o.URL+"/") {
						t.Errorf("%s: redirected to %q, off the site", name, loc)
					}
					if doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body)); err == nil {
						if href, ok := doc.Find(`[data-testid="signin-button"]`).Attr("href"); ok && href != "/auth/signin?return=%2Fenvironments" {
							t.Errorf("%s: the sign-in link is %q, want /auth/signin?return=%%2Fenvironments", name, href)
						}
					}
				}
				switch want {
				case "421":
					if got != http.StatusMisdirectedRequest || !strings.Contains(string(body), rebound) {
						t.Errorf("%s: status %d, want 421 naming the host: %.200s", name, got, body)
					}
				case "public", "allowed":
					if got == 401 || got == 403 || got == 429 || got >= 500 || (got == 303 && strings.HasPrefix(resp.Header.Get("Location"), "/signin")) {
						t.Errorf("%s: status %d (%s), want it let through", name, got, resp.Header.Get("Location"))
					}
				case "signin":
					if loc := resp.Header.Get("Location"); got != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin?return=") {
						t.Errorf("%s: status %d to %q, want 303 to /signin", name, got, loc)
					}
				case "401":
					if got != http.StatusUnauthorized {
						t.Errorf("%s: status %d, want 401", name, got)
					}
				case "403":
					if got != http.StatusForbidden {
						t.Errorf("%s: status %d, want 403", name, got)
					}
				case "404":
					if got != http.StatusNotFound {
						t.Errorf("%s: status %d, want 404 (another's token is not shown to exist)", name, got)
					}
				}
			}
		}
	}
	// Names in --allowed-hosts and loopback names are answered like the
	// external URL's host.
	for _, host := range []string{"mayfly.internal", "MAYFLY.INTERNAL:443", "localhost" + strings.TrimPrefix(s.url, "http://127.0.0.1")} {
		req, _ := http.NewRequest("GET", s.url+"/catalog", nil)
		req.Host = host
		req.AddCookie(&http.Cookie{Name: "mayfly_session", Value: bobCookie})
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /catalog for %s: status %d, want 200", host, resp.StatusCode)
		}
	}
	// Refused changes are audited like other refusals.
	refused, _ := s.Service.AuditLog(ctx, envs.System, envs.AuditFilter{Action: "request.refused"})
	if n := countAudited(refused, rebound); n == 0 {
		t.Errorf("no refused request for %s audited", rebound)
	}
	// The admin's "sign out everywhere" ended zed's session and token.
	if _, _, err := s.Service.SessionActor(ctx, zedCookie, ""); envs.ErrorCode(err) != envs.EUnauthorized {
		t.Errorf("zed's session after revocation: %v, want unauthorized", err)
	}
	if _, err := s.Service.TokenActor(ctx, zedToken, ""); envs.ErrorCode(err) != envs.EUnauthorized {
		t.Errorf("zed's token after revocation: %v, want unauthorized", err)
	}
}

// probeRoute reports the routes answered for any host once sign-in is on.
func probeRoute(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}

// countAudited counts the entries whose detail mentions s.
func countAudited(entries []envs.AuditEntry, s string) int {
	n := 0
	for _, e := range entries {
		if strings.Contains(e.Detail, s) {
			n++
		}
	}
	return n
}

// expect is the rule the table checks, written independently of the code
// under test: public routes are open; without a valid session or token a
// browser GET is sent to sign in and anything else is 401; then the role
// must grant the permission, and acting on an environment or a token needs
// its owner, its team, or an admin.
func expect(r route, who identity) string {
	if r.want != "" {
		return r.want
	}
	if r.perm == "" {
		return "public"
	}
	if who.invalid {
		if who.bearer != "" {
			return "401" // a token that does not work is refused outright, page or API
		}
		if !r.api() {
			return "signin" // a page, or a plain form posted from one
		}
		return "401"
	}
	need := map[envs.Permission]envs.Role{envs.PermRead: envs.RoleViewer, envs.PermLaunch: envs.RoleMember,
		envs.PermPublish: envs.RoleAuthor, envs.PermAdmin: envs.RoleAdmin, envs.PermTokens: envs.RoleViewer}[r.perm]
	if !who.role.AtLeast(need) {
		return "403"
	}
	if r.object && !who.owner {
		if strings.HasPrefix(r.path, "/tokens/") {
			return "404"
		}
		return "403"
	}
	if r.method == "POST" && r.path == "/tokens" && who.bearer != "" {
		return "403" // a token cannot mint tokens
	}
	if r.object && strings.HasPrefix(r.path, "/tokens/") && who.role != envs.RoleAdmin && who.name == "member same team" {
		return "404" // a token is its owner's alone, not the team's
	}
	return "allowed"
}

func TestCSRF(t *testing.T) {
	o := startOP(t)
	s := startSignIn(t, o)
	ctx := context.Background()
	bob, cookie, csrf, env := launchTiny(t, s)
	token, _, err := s.Service.CreateToken(ctx, bob, "ci", "", "")
	if err != nil {
		t.Fatal(err)
	}
	post := func(header map[string]string, body string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", s.url+"/environments/"+env.ID+"/extend", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "mayfly_session", Value: cookie})
		for k, v := range header {
			req.Header.Set(k, v)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name   string
		header map[string]string
		body   string
		want   int
	}{
		{"no token", nil, "ttl=1m", http.StatusForbidden},
		{"wrong token", map[string]string{"X-CSRF-Token": "nope"}, "ttl=1m", http.StatusForbidden},
		{"token of another session", map[string]string{"X-CSRF-Token": otherCSRF(t, s)}, "ttl=1m", http.StatusForbidden},
		{"token but cross-site", map[string]string{"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}, "ttl=1m", http.StatusForbidden},
		{"token but foreign origin", map[string]string{"X-CSRF-Token": csrf, "Origin": "https://evil.example"}, "ttl=1m", http.StatusForbidden},
		{"header token", map[string]string{"X-CSRF-Token": csrf}, "ttl=1m", http.StatusSeeOther},
		{"form token", nil, "ttl=1m&_csrf=" + url.QueryEscape(csrf), http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := post(tt.header, tt.body); got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
		})
	}
	t.Run("API token needs none", func(t *testing.T) {
		req, _ := http.NewRequest("POST", s.url+"/api/v1/environments/"+env.ID+"/extend", strings.NewReader(`{"ttl":"1m"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status %d, want 200", resp.StatusCode)
		}
	})
	entries, _ := s.Service.AuditLog(ctx, envs.System, envs.AuditFilter{Action: "request.refused"})
	if len(entries) < 3 {
		t.Errorf("%d refused requests audited, want at least 3", len(entries))
	}
}

func otherCSRF(t *testing.T, s *testServer) string {
	_, _, csrf := mintSession(t, s, "carol", "developers", "team-shop")
	return csrf
}

func TestEnvironmentPageOffersActionsOnlyToThoseAllowed(t *testing.T) {
	o := startOP(t)
	s := startSignIn(t, o)
	ctx := context.Background()
	if _, _, err := s.Service.Publish(ctx, envs.System, []byte(publishedTemplate)); err != nil {
		t.Fatal(err)
	}
	bob, bobCookie, _ := mintSession(t, s, "bob", "developers", "team-shop")
	env, err := s.Service.Launch(ctx, bob, envs.LaunchRequest{Template: "tiny", Params: map[string]any{"password": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	_, carol, _ := mintSession(t, s, "carol", "developers", "team-data")
	_, erin, _ := mintSession(t, s, "erin", "everyone")
	_, ada, _ := mintSession(t, s, "ada", "mayfly-admins")
	for _, tt := range []struct {
		who, cookie string
		offered     bool
	}{{"owner", bobCookie, true}, {"other team", carol, false}, {"viewer", erin, false}, {"admin", ada, true}} {
		req, _ := http.NewRequest("GET", s.url+"/environments/"+env.ID, nil)
		req.AddCookie(&http.Cookie{Name: "mayfly_session", Value: tt.cookie})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", tt.who, resp.StatusCode)
		}
		for _, control := range []string{`data-testid="destroy-button"`, `data-testid="extend-button"`} {
			if got := strings.Contains(string(body), control); got != tt.offered {
				t.Errorf("%s: page offers %s = %v, want %v", tt.who, control, got, tt.offered)
			}
		}
		// Launching again is for whoever may launch, not only those who may
		// act on this one.
		if got, want := strings.Contains(string(body), `data-testid="relaunch-button"`), tt.who != "viewer"; got != want {
			t.Errorf("%s: page offers Launch again = %v, want %v", tt.who, got, want)
		}
	}
}

func TestTemplateLimitedToTeamsAndTokenLastUse(t *testing.T) {
	o := startOP(t)
	s := startSignIn(t, o)
	ctx := context.Background()
	limited := strings.Replace(publishedTemplate, "provider: local\n", "provider: local\nteams: [data]\n", 1)
	if _, _, err := s.Service.Publish(ctx, envs.System, []byte(limited)); err != nil {
		t.Fatal(err)
	}
	bob, bobCookie, _ := mintSession(t, s, "bob", "developers", "team-shop")
	carol, carolCookie, _ := mintSession(t, s, "carol", "developers", "team-data")
	_, erinCookie, _ := mintSession(t, s, "erin", "everyone")
	for _, tt := range []struct{ who, cookie, want string }{
		{"other team", bobCookie, `data-testid="not-launchable-tiny"`},
		{"the team", carolCookie, `data-testid="launch-tiny"`},
		{"viewer", erinCookie, "Needs the member role"},
	} {
		req, _ := http.NewRequest("GET", s.url+"/catalog", nil)
		req.AddCookie(&http.Cookie{Name: "mayfly_session", Value: tt.cookie})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), tt.want) {
			t.Errorf("catalog for %s lacks %s", tt.who, tt.want)
		}
	}
	for _, tt := range []struct {
		who, cookie string
		want        int
	}{{"other team", bobCookie, http.StatusForbidden}, {"the team", carolCookie, http.StatusOK}} {
		req, _ := http.NewRequest("GET", s.url+"/templates/tiny/launch", nil)
		req.AddCookie(&http.Cookie{Name: "mayfly_session", Value: tt.cookie})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("launch form for %s: %d, want %d", tt.who, resp.StatusCode, tt.want)
		}
	}
	if tpl, err := s.Service.Template(ctx, "tiny"); err != nil || !slices.Equal(tpl.Versions[0].Spec.Teams, []string{"data"}) {
		t.Fatalf("stored template teams: %v, %v", tpl, err)
	}
	launch := func(a envs.Actor) int {
		tok, _, err := s.Service.CreateToken(ctx, a, "ci", "1h", "")
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", s.url+"/api/v1/environments", strings.NewReader(`{"template":"tiny","params":{"password":"pw"}}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := launch(bob); got != http.StatusForbidden {
		t.Errorf("team shop launching a data-only template: %d, want 403", got)
	}
	if got := launch(carol); got != http.StatusAccepted {
		t.Errorf("team data launching its template: %d, want 202", got)
	}
	toks, err := s.Service.Tokens(ctx, carol)
	if err != nil || len(toks) != 1 {
		t.Fatalf("carol's tokens: %v, %v", toks, err)
	}
	launches, _ := s.Service.AuditLog(ctx, envs.System, envs.AuditFilter{Actor: "carol@example.com", Action: "environment.launch"})
	if len(launches) != 1 || launches[0].Via != "token "+toks[0].ID {
		t.Errorf("audit of the token's launch = %+v, want via token %s", launches, toks[0].ID)
	}
	if toks[0].LastUsedAt == nil || toks[0].ExpiresAt == nil || toks[0].ExpiresAt.Sub(toks[0].CreatedAt) != time.Hour {
		t.Errorf("token after use = %+v, want a last use and a 1h lifetime", toks[0])
	}
}

func TestSignOutRevokesTheSessionServerSide(t *testing.T) {
	o := startOP(t)
	s := startSignIn(t, o)
	_, cookie, csrf := mintSession(t, s, "bob", "developers")
	call := func(method, path, csrf string) int {
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader("_csrf="+url.QueryEscape(csrf)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "mayfly_session", Value: cookie})
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := call("GET", "/api/v1/environments", ""); got != http.StatusOK {
		t.Fatalf("before sign-out: %d", got)
	}
	if got := call("POST", "/auth/signout", "wrong"); got != http.StatusForbidden {
		t.Errorf("sign-out without the CSRF token: %d, want 403 (a foreign page must not sign people out)", got)
	}
	if got := call("POST", "/auth/signout", csrf); got != http.StatusSeeOther {
		t.Fatalf("sign-out: %d, want 303", got)
	}
	// The browser dropped the cookie; someone who copied it gets nothing.
	if got := call("GET", "/api/v1/environments", ""); got != http.StatusUnauthorized {
		t.Errorf("the old cookie after sign-out: %d, want 401", got)
	}
	entries, _ := s.Service.AuditLog(context.Background(), envs.System, envs.AuditFilter{Action: "auth.signout"})
	if len(entries) != 1 || entries[0].Actor != "bob@example.com" || entries[0].Result != "ok" {
		t.Errorf("audit of the sign-out = %+v", entries)
	}
}
