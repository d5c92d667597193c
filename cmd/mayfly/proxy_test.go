package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/envs"
)

// TestTrustedProxies: X-Forwarded-For is believed only from a peer inside
// --trust-proxy, and is followed back to the nearest address that is not
// a trusted proxy; the client address is what the audit log records.
func TestTrustedProxies(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		xff   string
		want  string
	}{
		{"no proxy trusted", nil, "203.0.113.9", "127.0.0.1"},
		{"a private range that is not the peer", []string{"--trust-proxy", "10.0.0.0/8"}, "203.0.113.9", "127.0.0.1"},
		{"the peer is the proxy", []string{"--trust-proxy", "127.0.0.1"}, "203.0.113.9", "203.0.113.9"},
		{"an untrusted private hop is the client", []string{"--trust-proxy", "127.0.0.1/32"}, "203.0.113.9, 10.1.2.3", "10.1.2.3"},
		{"a chain of trusted proxies", []string{"--trust-proxy", "127.0.0.1/32,10.0.0.0/8"}, "203.0.113.9, 10.1.2.3", "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := runTestMain(t, localConfig(t, tt.flags...))
			req, _ := http.NewRequest("POST", s.url+"/api/v1/environments", strings.NewReader(`{"template":"no-such-template"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", tt.xff)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			entries, err := s.Service.AuditLog(context.Background(), envs.System, envs.AuditFilter{Action: "environment.launch", Target: "no-such-template"})
			if err != nil || len(entries) != 1 {
				t.Fatalf("audit entries %+v, %v; want the refused launch", entries, err)
			}
			if got := entries[0].Address; got != tt.want {
				t.Errorf("client address %q, want %q", got, tt.want)
			}
		})
	}
}
