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
	proxied := startSignIn(t, o, "--trust-proxy", "127.0.0.1")
	if c := loginCookie(proxied, map[string]string{"X-Forwarded-Proto": "https"}); !strings.Contains(c, "; Secure") {
		t.Errorf("behind a trusted proxy on https: cookie %q is not Secure", c)
	}
	// Only the proxies named are believed, not any private peer.
	elsewhere := startSignIn(t, o, "--trust-proxy", "10.0.0.0/8")
	if c := loginCookie(elsewhere, map[string]string{"X-Forwarded-Proto": "https"}); strings.Contains(c, "; Secure") {
		t.Errorf("X-Forwarded-Proto from a peer outside --trust-proxy made the cookie Secure: %q", c)
	}
	direct := startSignIn(t, o)
	if c := loginCookie(direct, map[string]string{"X-Forwarded-Proto": "https"}); strings.Contains(c, "; Secure") {
		t.Errorf("untrusted X-Forwarded-Proto made the cookie Secure: %q", c)
	}
	if hsts != "" {
		t.Errorf("Strict-Transport-Security on plain http: %q", hsts)
	}
}
