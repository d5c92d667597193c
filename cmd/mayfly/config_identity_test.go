package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestConfigSignIn(t *testing.T) {
	oidc := map[string]string{"MAYFLY_OIDC_ISSUER": "https://id.example.com", "MAYFLY_OIDC_CLIENT_ID": "mayfly", "MAYFLY_OIDC_CLIENT_SECRET": "s"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{"HOME": "/home/u"}
		for k, v := range oidc {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{name: "all interfaces once sign-in is configured", args: []string{"--addr", "0.0.0.0:8080"}, env: with(nil)},
		{name: "issuer without client", args: []string{"--addr", "0.0.0.0:8080"}, env: map[string]string{"MAYFLY_OIDC_ISSUER": "https://id.example.com"}, wantErr: "together"},
		{name: "client secret alone", env: map[string]string{"MAYFLY_OIDC_CLIENT_SECRET": "s"}, wantErr: "together"},
		{name: "issuer not a URL", env: with(map[string]string{"MAYFLY_OIDC_ISSUER": "id.example.com"}), wantErr: "--oidc-issuer"},
		{name: "unknown role", env: with(map[string]string{"MAYFLY_ROLE_GROUPS": "ops=root"}), wantErr: "not a role"},
		{name: "team mapping without team", env: with(map[string]string{"MAYFLY_TEAM_GROUPS": "team-a"}), wantErr: "group=team"},
		{name: "bad previous key", env: map[string]string{"MAYFLY_SECRET_KEY_PREVIOUS": "abc"}, wantErr: "MAYFLY_SECRET_KEY_PREVIOUS"},
		{name: "external URL not a URL", args: []string{"--external-url", "mayfly.example.com"}, wantErr: "--external-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

// TestConfigRateLimits: the sign-in and API token limits come from flags or
// MAYFLY_* variables; errors name the flag.
func TestConfigRateLimits(t *testing.T) {
	base := map[string]string{"HOME": "/home/u", "MAYFLY_OIDC_ISSUER": "https://id.example.com", "MAYFLY_OIDC_CLIENT_ID": "mayfly", "MAYFLY_OIDC_CLIENT_SECRET": "s"}
	tests := []struct {
		name                  string
		args                  []string
		env                   map[string]string
		wantErr               string
		signin, perSec, burst int
	}{
		{name: "defaults", signin: 20, perSec: 20, burst: 200},
		{name: "from the environment", env: map[string]string{"MAYFLY_SIGNIN_RATE_LIMIT": "5", "MAYFLY_TOKEN_RATE_LIMIT": "50", "MAYFLY_TOKEN_RATE_BURST": "500"}, signin: 5, perSec: 50, burst: 500},
		{name: "flags beat the environment", args: []string{"--token-rate-limit", "3", "--token-rate-burst", "9"}, env: map[string]string{"MAYFLY_TOKEN_RATE_LIMIT": "50"}, signin: 20, perSec: 3, burst: 9},
		{name: "a flag overrides a variable that is not a number", args: []string{"--token-rate-limit", "3"}, env: map[string]string{"MAYFLY_TOKEN_RATE_LIMIT": "lots"}, signin: 20, perSec: 3, burst: 200},
		{name: "variable not a number", env: map[string]string{"MAYFLY_TOKEN_RATE_LIMIT": "lots"}, wantErr: "MAYFLY_TOKEN_RATE_LIMIT (--token-rate-limit)"},
		{name: "sign-in variable not a number", env: map[string]string{"MAYFLY_SIGNIN_RATE_LIMIT": "20/min"}, wantErr: "--signin-rate-limit"},
		{name: "flag not a number", args: []string{"--token-rate-burst", "many"}, wantErr: "token-rate-burst"},
		{name: "zero token limit", args: []string{"--token-rate-limit", "0"}, wantErr: "--token-rate-limit 0: must be positive"},
		{name: "negative sign-in limit", env: map[string]string{"MAYFLY_SIGNIN_RATE_LIMIT": "-1"}, wantErr: "--signin-rate-limit -1: must be positive"},
		{name: "burst below the rate", args: []string{"--token-rate-limit", "10", "--token-rate-burst", "5"}, wantErr: "--token-rate-burst 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			c, err := ParseConfig(tt.args, func(k string) string { return env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.SignInPerMinute != tt.signin || c.TokenPerSecond != tt.perSec || c.TokenBurst != tt.burst {
				t.Errorf("sign-in %d/min, tokens %d/s burst %d; want %d, %d, %d", c.SignInPerMinute, c.TokenPerSecond, c.TokenBurst, tt.signin, tt.perSec, tt.burst)
			}
		})
	}
}

// TestCookiesSecureBehindHTTPS: cookies are Secure when the external URL is
// https, or when a trusted proxy says the browser used https.
func TestCookiesSecureBehindHTTPS(t *testing.T) {
	o := startOP(t)
	var hsts string
	loginCookie := func(s *testServer, header map[string]string) string {
		req, _ := http.NewRequest("GET", s.url+"/auth/signin", nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		hsts = resp.Header.Get("Strict-Transport-Security")
		for _, c := range resp.Header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "mayfly_login=") {
				return c
			}
		}
		t.Fatalf("no sign-in cookie (status %d)", resp.StatusCode)
		return ""
	}
	https := startSignIn(t, o, "--external-url", "https://mayfly.example.com")
	if c := loginCookie(https, nil); !strings.Contains(c, "; Secure") {
		t.Errorf("external URL https: cookie %q is not Secure", c)
	}
	if hsts == "" {
		t.Error("no Strict-Transport-Security behind https")
	}
	proxied := startSignIn(t, o, "--trust-proxy")
	if c := loginCookie(proxied, map[string]string{"X-Forwarded-Proto": "https"}); !strings.Contains(c, "; Secure") {
		t.Errorf("behind a trusted proxy on https: cookie %q is not Secure", c)
	}
	direct := startSignIn(t, o)
	if c := loginCookie(direct, map[string]string{"X-Forwarded-Proto": "https"}); strings.Contains(c, "; Secure") {
		t.Errorf("untrusted X-Forwarded-Proto made the cookie Secure: %q", c)
	}
	if hsts != "" {
		t.Errorf("Strict-Transport-Security on plain http: %q", hsts)
	}
}
