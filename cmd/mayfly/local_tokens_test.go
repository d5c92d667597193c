package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/envs"
)

// localCall is a request to s with an optional bearer token.
func localCall(t *testing.T, s *testServer, method, path, token, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var localTokenSecretRe = regexp.MustCompile(`data-testid="new-token-secret"[^>]*>\s*(mfy_[A-Za-z0-9_-]+)`)

// createLocalToken makes a token on the Tokens page as the local
// administrator and returns its secret, shown once.
func createLocalToken(t *testing.T, s *testServer, name, role string) string {
	t.Helper()
	form := url.Values{"name": {name}, "role": {role}, "ttl": {"1h"}}
	status, body := localCall(t, s, "POST", "/tokens", "", "application/x-www-form-urlencoded", form.Encode())
	m := localTokenSecretRe.FindStringSubmatch(body)
	if status != http.StatusCreated || m == nil {
		t.Fatalf("create token %s: %d, secret found %v", name, status, m != nil)
	}
	return m[1]
}

// Issue 15 item 4: in local mode the local administrator makes API tokens
// (to try the command line); they act as the local administrator capped to
// their role, are shown once, audited, and stop working when revoked.
func TestLocalModeTokens(t *testing.T) {
	s := startMain(t, testCatalog(t))
	ctx := context.Background()

	if status, body := localCall(t, s, "GET", "/tokens", "", "", ""); status != http.StatusOK || !strings.Contains(body, `data-testid="nav-tokens"`) {
		t.Fatalf("tokens page in local mode: %d", status)
	}
	member := createLocalToken(t, s, "try-cli", "member")

	t.Run("the secret is never shown again", func(t *testing.T) {
		_, body := localCall(t, s, "GET", "/tokens", "", "", "")
		if strings.Contains(body, member) || !strings.Contains(body, "try-cli") || !strings.Contains(body, member[:10]) {
			t.Errorf("tokens page: secret shown %v, name or prefix missing", strings.Contains(body, member))
		}
	})

	t.Run("a token acts as the local administrator capped to its role", func(t *testing.T) {
		for _, tt := range []struct {
			name, method, path, token, ct, body string
			want                                int
		}{
			{"list with the token", "GET", "/api/v1/environments", member, "", "", http.StatusOK},
			{"a wrong token", "GET", "/api/v1/environments", "mfy_not-a-token", "", "", http.StatusUnauthorized},
			{"not a bearer", "GET", "/api/v1/environments", "", "", "", http.StatusOK},
			{"publish needs author", "POST", "/api/v1/templates", member, "application/yaml", "name: x\n", http.StatusForbidden},
			{"admin pages need admin", "GET", "/api/v1/audit", member, "", "", http.StatusForbidden},
			{"no token from a token", "POST", "/tokens", member, "application/x-www-form-urlencoded", "name=child", http.StatusForbidden},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if status, body := localCall(t, s, tt.method, tt.path, tt.token, tt.ct, tt.body); status != tt.want {
					t.Errorf("%s %s: %d, want %d: %s", tt.method, tt.path, status, tt.want, body)
				}
			})
		}
	})

	t.Run("the command line with MAYFLY_TOKEN", func(t *testing.T) {
		code, out, errOut := mayflyCLIToken(t, s, member, "env", "launch", "slow-setup", "--param", "setup_seconds=60", "--name", "token-cli",
			"--ttl", "30m", "--output", "json")
		if code != 0 {
			t.Fatalf("launch with the token: exit %d: %s %s", code, out, errOut)
		}
		code, out, errOut = mayflyCLIToken(t, s, member, "env", "destroy", "token-cli", "--wait", "--timeout", "1m")
		if code != 0 || !strings.Contains(out, "destroyed") {
			t.Errorf("destroy its own environment with the member token: exit %d: %s %s", code, out, errOut)
		}
		code, _, errOut = mayflyCLIToken(t, s, "mfy_wrong", "env", "list")
		if code != 1 || !strings.Contains(errOut, "not valid") {
			t.Errorf("a wrong token: exit %d: %s", code, errOut)
		}
	})

	t.Run("a signed-in user's token does not work in local mode", func(t *testing.T) {
		// As if the database came from a portal with sign-in.
		sess, err := s.Service.SignIn(ctx, envs.Claims{Issuer: "https://idp.example.com", Subject: "bob"}, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		bob := envs.Actor{Name: "bob", UserID: sess.User.ID, Issuer: sess.User.Issuer, Subject: "bob", Role: envs.RoleAdmin, Via: "session"}
		secret, _, err := s.Service.CreateToken(ctx, bob, "from-sign-in", "", "")
		if err != nil {
			t.Fatal(err)
		}
		if status, body := localCall(t, s, "GET", "/api/v1/environments", secret, "", ""); status != http.StatusUnauthorized {
			t.Errorf("a signed-in user's token in local mode: %d %s, want 401", status, body)
		}
	})

	t.Run("audited, and revoked it stops working", func(t *testing.T) {
		entries, err := s.Service.AuditLog(ctx, envs.System, envs.AuditFilter{Action: "token.create", Result: "ok", Actor: "local"})
		if err != nil || len(entries) != 1 || entries[0].Actor != "local" || entries[0].Result != "ok" {
			t.Fatalf("token.create audit: %+v, %v", entries, err)
		}
		toks, err := s.Service.Tokens(ctx, envs.Actor{Name: "local", Admin: true, Via: "local", UserID: entries[0].ActorID, Role: envs.RoleAdmin})
		if err != nil || len(toks) != 1 {
			t.Fatalf("tokens: %+v, %v", toks, err)
		}
		if status, _ := localCall(t, s, "POST", "/tokens/"+toks[0].ID+"/revoke", "", "application/x-www-form-urlencoded", ""); status >= 400 {
			t.Fatalf("revoke: %d", status)
		}
		if status, _ := localCall(t, s, "GET", "/api/v1/environments", member, "", ""); status != http.StatusUnauthorized {
			t.Errorf("a revoked token: %d, want 401", status)
		}
		if entries, _ := s.Service.AuditLog(ctx, envs.System, envs.AuditFilter{Action: "token.revoke"}); len(entries) != 1 || entries[0].Target != toks[0].ID {
			t.Errorf("token.revoke audit: %+v", entries)
		}
	})
}

// A token made in local mode does not work once sign-in is configured (the
// database kept from the local run): the local administrator is nobody
// there.
func TestLocalTokenRefusedWithSignIn(t *testing.T) {
	o := startOP(t)
	s := startSignIn(t, o)
	ctx := context.Background()
	local, err := s.Service.LocalAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := s.Service.CreateToken(ctx, local, "from-local-mode", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if status, body := localCall(t, s, "GET", "/api/v1/environments", secret, "", ""); status != http.StatusUnauthorized {
		t.Errorf("a local token with sign-in: %d %s, want 401", status, body)
	}
	entries, err := s.Service.AuditLog(ctx, envs.System, envs.AuditFilter{Action: "request.refused", Actor: "local"})
	if err != nil || len(entries) != 1 || entries[0].Result != "unauthorized" {
		t.Errorf("refusal audit: %+v, %v", entries, err)
	}
}
