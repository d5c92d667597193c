package main

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/handlers"
)

// sessionCookie returns the session cookie a client holds for s.
func sessionCookie(t *testing.T, c *http.Client, s *testServer) string {
	t.Helper()
	u, _ := url.Parse(s.url)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "mayfly_session" {
			return ck.Value
		}
	}
	return ""
}

func TestSignInMapsGroupsToRolesAndTeams(t *testing.T) {
	o := startOP(t)
	s := startSignIn(t, o)
	tests := []struct {
		user   string
		role   envs.Role
		teams  []string
		status int // of the page signed in to (/catalog)
	}{
		{"ada", envs.RoleAdmin, []string{"platform"}, http.StatusOK},
		{"bob", envs.RoleMember, []string{"shop"}, http.StatusOK},
		{"dave", envs.RoleAuthor, nil, http.StatusOK},
		{"erin", envs.RoleViewer, nil, http.StatusOK},
		{"frank", envs.RoleNone, nil, http.StatusForbidden}, // signed in, but no group has a role
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			c := browserless(t)
			resp := loginAtOP(t, c, s.url+"/auth/signin?return=/catalog", tt.user)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Request.URL.Path != "/catalog" || resp.StatusCode != tt.status {
				t.Fatalf("after sign-in: %s, status %d, want /catalog %d: %.300s", resp.Request.URL, resp.StatusCode, tt.status, body)
			}
			ck := sessionCookie(t, c, s)
			if ck == "" {
				t.Fatal("no session cookie")
			}
			a, _, err := s.Service.SessionActor(context.Background(), ck, "")
			if err != nil {
				t.Fatal(err)
			}
			if a.Role != tt.role || !slices.Equal(a.Teams, tt.teams) || a.Name != tt.user+"@example.com" {
				t.Errorf("actor = %s %s %v, want %s@example.com %s %v", a.Name, a.Role, a.Teams, tt.user, tt.role, tt.teams)
			}
		})
	}
}

// TestSignInGroupsFromUserInfo: a provider that keeps groups (and e-mail
// and name) out of the ID token is asked at its userinfo endpoint; the
// configured groups claim name applies there too. A provider that puts the
// groups in the ID token is not asked.
func TestSignInGroupsFromUserInfo(t *testing.T) {
	o := startOP(t)
	o.claimsInUserinfo("member_of", false)
	s := startSignIn(t, o, "--oidc-groups-claim", "member_of")
	signIn := func(user string) envs.Actor {
		t.Helper()
		c := browserless(t)
		resp := loginAtOP(t, c, s.url+"/auth/signin?return=/catalog", user)
		resp.Body.Close()
		a, _, err := s.Service.SessionActor(context.Background(), sessionCookie(t, c, s), "")
		if err != nil {
			t.Fatalf("%s after sign-in (%s, %d): %v", user, resp.Request.URL, resp.StatusCode, err)
		}
		return a
	}
	if a := signIn("bob"); a.Role != envs.RoleMember || !slices.Equal(a.Teams, []string{"shop"}) {
		t.Errorf("groups in the ID token: bob is %s %v, want member [shop]", a.Role, a.Teams)
	}
	if n := o.userinfoServed(); n != 0 {
		t.Errorf("userinfo asked %d times although the ID token had the groups", n)
	}

	o.claimsInUserinfo("member_of", true)
	tests := []struct {
		user  string
		role  envs.Role
		teams []string
	}{
		{"ada", envs.RoleAdmin, []string{"platform"}},
		{"bob", envs.RoleMember, []string{"shop"}},
		{"erin", envs.RoleViewer, nil},
	}
	for _, tt := range tests {
		a := signIn(tt.user)
		if a.Role != tt.role || !slices.Equal(a.Teams, tt.teams) || a.Name != tt.user+"@example.com" {
			t.Errorf("groups in userinfo only: %s is %q %s %v, want %s@example.com %s %v", tt.user, a.Name, a.Role, a.Teams, tt.user, tt.role, tt.teams)
		}
		users, err := s.Service.Users(context.Background(), envs.System)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			if u.ID == a.UserID && u.Name == "" {
				t.Errorf("%s: no name although userinfo has one", tt.user)
			}
		}
	}
	if n := o.userinfoServed(); n != len(tests) {
		t.Errorf("userinfo asked %d times, want once per sign-in (%d)", n, len(tests))
	}

	// Without an answer from userinfo nobody is signed in without their
	// groups: the sign-in fails, and the audit log says why.
	o.mu.Lock()
	o.userinfoFails = true
	o.mu.Unlock()
	c := browserless(t)
	resp := loginAtOP(t, c, s.url+"/auth/signin?return=/catalog", "ada")
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || sessionCookie(t, c, s) != "" {
		t.Errorf("sign-in while userinfo fails: status %d at %s, session cookie %v; want 401 and none",
			resp.StatusCode, resp.Request.URL.Path, sessionCookie(t, c, s) != "")
	}
	entries, err := s.Service.AuditLog(context.Background(), envs.System, envs.AuditFilter{Action: "auth.signin", Result: "unauthorized"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || !strings.Contains(entries[0].Detail, "userinfo") {
		t.Errorf("audit of the failed sign-in: %+v, want a detail naming userinfo", entries)
	}
}

func TestSignInCookieFlags(t *testing.T) {
	o := startOP(t)
	s := startSignIn(t, o)
	c := browserless(t)
	var setCookie []string
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		// req.Response is the redirect that led here.
		if from := req.Response.Request.URL; from.Path == "/auth/callback" && strings.HasPrefix(s.url, "http://"+from.Host) {
			setCookie = req.Response.Header.Values("Set-Cookie")
		}
		return nil
	}
	resp := loginAtOP(t, c, s.url+"/auth/signin", "bob")
	resp.Body.Close()
	var session string
	for _, h := range setCookie {
		if strings.HasPrefix(h, "mayfly_session=") {
			session = h
		}
	}
	if !strings.Contains(session, "HttpOnly") || !strings.Contains(session, "SameSite=Lax") || strings.Contains(session, "Secure") {
		t.Errorf("session cookie on plain http = %q, want HttpOnly, SameSite=Lax, not Secure", session)
	}
}

// captureCallback runs a sign-in up to the provider's redirect back to
// Mayfly and returns that callback URL without calling it.
func captureCallback(t *testing.T, s *testServer, c *http.Client, user string) *url.URL {
	t.Helper()
	var callback *url.URL
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == "/auth/callback" && strings.HasPrefix(s.url, "http://"+req.URL.Host) {
			callback = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp := loginAtOP(t, c, s.url+"/auth/signin", user)
	resp.Body.Close()
	c.CheckRedirect = nil
	if callback == nil {
		t.Fatal("the provider did not redirect back to Mayfly")
	}
	return callback
}

func TestSignInRefusesReplayAndForeignState(t *testing.T) {
	o := startOP(t)
	s := startSignIn(t, o)
	noFollow := func(c *http.Client) {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}

	t.Run("callback replayed", func(t *testing.T) {
		c := browserless(t)
		cb := captureCallback(t, s, c, "bob")
		noFollow(c)
		resp, err := c.Get(cb.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("first callback: status %d, want 303", resp.StatusCode)
		}
		// The replay carries the state cookie again, as an attacker holding
		// the captured request would.
		req, _ := http.NewRequest("GET", cb.String(), nil)
		req.AddCookie(&http.Cookie{Name: "mayfly_login", Value: cb.Query().Get("state")})
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("replayed callback: status %d, want 401", resp.StatusCode)
		}
	})
	t.Run("state from another browser", func(t *testing.T) {
		victim := browserless(t)
		cb := captureCallback(t, s, browserless(t), "bob") // the attacker's sign-in
		noFollow(victim)
		resp, err := victim.Get(cb.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || sessionCookie(t, victim, s) != "" {
			t.Errorf("callback without the state cookie: status %d (want 401), session %q", resp.StatusCode, sessionCookie(t, victim, s))
		}
	})
	t.Run("expired ID token", func(t *testing.T) {
		o.setClient(opClientID, s.Config.ExternalURL+"/auth/callback", -time.Hour)
		defer o.setClient(opClientID, s.Config.ExternalURL+"/auth/callback", 0)
		c := browserless(t)
		resp := loginAtOP(t, c, s.url+"/auth/signin", "bob")
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || sessionCookie(t, c, s) != "" {
			t.Errorf("sign-in with an expired ID token: status %d at %s, want 401 and no session", resp.StatusCode, resp.Request.URL)
		}
	})
	entries, err := s.Service.AuditLog(context.Background(), envs.System, envs.AuditFilter{Action: "auth.signin", Result: "unauthorized"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 3 {
		t.Errorf("%d failed sign-ins audited, want at least 3", len(entries))
	}
}

// idTokenFor gets an ID token from the provider for client id through the
// code flow, without Mayfly.
func idTokenFor(t *testing.T, o *testOP, clientID, nonce string) string {
	t.Helper()
	redirect := "http://127.0.0.1:1/cb-" + clientID
	o.setClient(clientID, redirect, 0)
	cfg := oauth2.Config{ClientID: clientID, ClientSecret: opClientSecret, RedirectURL: redirect,
		Endpoint: oauth2.Endpoint{AuthURL: o.URL + "/auth", TokenURL: o.URL + "/oauth/token"}, Scopes: []string{"openid", "email", "groups"}}
	c := browserless(t)
	var code string
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirect) {
			code = req.URL.Query().Get("code")
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp := loginAtOP(t, c, cfg.AuthCodeURL("st", oauth2.SetAuthURLParam("nonce", nonce)), "bob")
	resp.Body.Close()
	if code == "" {
		t.Fatalf("no code for %s", clientID)
	}
	tok, err := cfg.Exchange(context.Background(), code)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no ID token")
	}
	return raw
}

func TestIDTokenVerification(t *testing.T) {
	o := startOP(t)
	ctx := context.Background()
	verifier, err := handlers.NewOIDC(ctx, handlers.OIDCConfig{Issuer: o.URL, ClientID: opClientID, ClientSecret: opClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	good := idTokenFor(t, o, opClientID, "n1")
	if c, err := verifier.Verify(ctx, good, "n1"); err != nil || c.Subject != "sub-bob" || !slices.Contains(c.Groups, "developers") {
		t.Fatalf("a good token: claims %+v, err %v", c, err)
	}
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(payload), `"sub-bob"`, `"sub-ada"`, 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]

	tests := []struct {
		name, token, nonce, want string
	}{
		{"tampered payload", tampered, "n1", "signature"},
		{"wrong audience", idTokenFor(t, o, "other", "n1"), "n1", "audience"},
		{"nonce of another sign-in", good, "n2", "nonce"},
		{"not a token", "abc", "n1", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verifier.Verify(ctx, tt.token, tt.nonce)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Verify: %v, want an error about %s", err, tt.want)
			}
		})
	}
	// The expiry is checked against the clock: the same good token a day later.
	later, err := handlers.NewOIDC(ctx, handlers.OIDCConfig{Issuer: o.URL, ClientID: opClientID, ClientSecret: opClientSecret,
		Now: func() time.Time { return time.Now().Add(24 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := later.Verify(ctx, good, "n1"); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("Verify a day later: %v, want expired", err)
	}
}

func TestSignInIsRateLimited(t *testing.T) {
	o := startOP(t)
	s := startSignIn(t, o, "--signin-rate-limit", "3")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var got []int
	var retry string
	for range 4 {
		resp, err := client.Get(s.url + "/auth/signin")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, resp.StatusCode)
		retry = resp.Header.Get("Retry-After")
	}
	if want := []int{302, 302, 302, 429}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	// 3 a minute: the next attempt is allowed in about 20 seconds.
	if n, err := strconv.Atoi(retry); err != nil || n < 15 || n > 20 {
		t.Errorf("Retry-After = %q, want about 20 (seconds)", retry)
	}
}

// TestAPITokensAreRateLimited: --token-rate-limit and --token-rate-burst
// bound the requests made with API tokens from one address; the refusal is
// 429 with Retry-After, and requests with a session are not counted.
func TestAPITokensAreRateLimited(t *testing.T) {
	o := startOP(t)
	s := startSignIn(t, o, "--token-rate-limit", "1", "--token-rate-burst", "2")
	bob, cookie, _ := mintSession(t, s, "bob", "developers", "team-shop")
	token, _, err := s.Service.CreateToken(context.Background(), bob, "ci", "", "")
	if err != nil {
		t.Fatal(err)
	}
	get := func(header, value string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", s.url+"/api/v1/environments", nil)
		req.Header.Set(header, value)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	var got []int
	var last *http.Response
	for range 3 {
		last = get("Authorization", "Bearer "+token)
		got = append(got, last.StatusCode)
	}
	if want := []int{200, 200, 429}; !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v (a burst of 2)", got, want)
	}
	if ra := last.Header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After = %q, want 1 (one request a second)", ra)
	}
	if ct := last.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("429 content type %q, want problem+json", ct)
	}
	if resp := get("Cookie", "mayfly_session="+cookie); resp.StatusCode != http.StatusOK {
		t.Errorf("with a session while the token is limited: %d, want 200", resp.StatusCode)
	}
	time.Sleep(1100 * time.Millisecond) // one token refills in a second
	if resp := get("Authorization", "Bearer "+token); resp.StatusCode != http.StatusOK {
		t.Errorf("a second later: %d, want 200", resp.StatusCode)
	}
}
