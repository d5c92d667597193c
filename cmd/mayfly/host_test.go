package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/static"
)

// rawResponse is what a server answered on a raw connection.
type rawResponse struct {
	status int
	header http.Header
	body   string
}

// rawRequest sends text as it is on a new connection to addr and reads one
// response.
func rawRequest(t *testing.T, addr, text string) rawResponse {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, text); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read the answer to %q: %v", strings.SplitN(text, "\r\n", 2)[0], err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// hostOf is the host:port a test server listens on.
func hostOf(s *testServer) string { return strings.TrimPrefix(s.url, "http://") }

// withHost sends a request to s with another Host header.
func withHost(t *testing.T, s *testServer, method, path, host, contentType, body string) rawResponse {
	t.Helper()
	text := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %d\r\n", method, path, host, len(body))
	if contentType != "" {
		text += "Content-Type: " + contentType + "\r\n"
	}
	return rawRequest(t, hostOf(s), text+"\r\n"+body)
}

// TestLocalModeAnswersOnlyLoopbackHosts: a web page whose name was rebound
// to 127.0.0.1 sends its own name as Host. Without sign-in only loopback
// names and the external URL's host are answered; anything else is 421,
// static files and probes included, before anything is done, and refused
// changes are audited.
func TestLocalModeAnswersOnlyLoopbackHosts(t *testing.T) {
	s := runTestMain(t, localConfig(t, "--external-url", "http://mayfly.test:8080"))
	_, port, _ := net.SplitHostPort(hostOf(s))
	const evil = "evil.example:8080"
	yaml, form, json := "application/yaml", "application/x-www-form-urlencoded", "application/json"
	tests := []struct {
		name, method, path, host, contentType, body string
		want                                        int
	}{
		{"page", "GET", "/environments", evil, "", "", http.StatusMisdirectedRequest},
		{"publish a local template through the API", "POST", "/api/v1/templates", evil, yaml, publishedTemplate, http.StatusMisdirectedRequest},
		{"publish through the form", "POST", "/templates", evil, form, "source=" + url.QueryEscape(publishedTemplate), http.StatusMisdirectedRequest},
		{"launch through the API", "POST", "/api/v1/environments", evil, json, `{"template":"demo-shop","params":{"customer":"x"}}`, http.StatusMisdirectedRequest},
		{"static file", "GET", static.URL("app.css"), evil, "", "", http.StatusMisdirectedRequest},
		{"liveness", "GET", "/healthz", evil, "", "", http.StatusMisdirectedRequest},
		{"readiness", "GET", "/readyz", evil, "", "", http.StatusMisdirectedRequest},
		{"metrics", "GET", "/metrics", evil, "", "", http.StatusMisdirectedRequest},
		{"a private address", "GET", "/environments", "192.168.1.10:" + port, "", "", http.StatusMisdirectedRequest},
		{"a name ending in localhost", "GET", "/environments", "localhost.evil.example:" + port, "", "", http.StatusMisdirectedRequest},
		{"no host", "GET", "/environments", "", "", "", http.StatusMisdirectedRequest},
		{"127.0.0.1", "GET", "/environments", "127.0.0.1:" + port, "", "", http.StatusOK},
		{"another loopback address", "GET", "/environments", "127.0.0.2:" + port, "", "", http.StatusOK},
		{"localhost", "GET", "/environments", "localhost:" + port, "", "", http.StatusOK},
		{"localhost in capitals, no port", "GET", "/environments", "LOCALHOST", "", "", http.StatusOK},
		{"IPv6 loopback", "GET", "/environments", "[::1]:" + port, "", "", http.StatusOK},
		{"the external URL's host", "GET", "/environments", "mayfly.test:" + port, "", "", http.StatusOK},
		{"static file on loopback", "GET", static.URL("app.css"), "127.0.0.1:" + port, "", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := withHost(t, s, tt.method, tt.path, tt.host, tt.contentType, tt.body)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %.300s", r.status, tt.want, r.body)
			}
			if tt.want != http.StatusMisdirectedRequest {
				return
			}
			ct := r.header.Get("Content-Type")
			if api := strings.HasPrefix(tt.path, "/api/"); api && ct != "application/problem+json" || !api && !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("content type %q", ct)
			}
			if !strings.Contains(r.body, tt.host) || !strings.Contains(r.body, "--external-url") {
				t.Errorf("the answer does not name the host refused and how to allow it: %s", r.body)
			}
		})
	}
	t.Run("absolute-form request target", func(t *testing.T) {
		r := rawRequest(t, hostOf(s), "GET http://"+evil+"/environments HTTP/1.1\r\nHost: 127.0.0.1:"+port+"\r\nConnection: close\r\n\r\n")
		if r.status != http.StatusMisdirectedRequest {
			t.Errorf("status %d, want 421", r.status)
		}
	})
	if r := s.api("GET", "/api/v1/templates/tiny", nil); r.Status != http.StatusNotFound {
		t.Errorf("the refused publish published: %d %s", r.Status, r.Body)
	}
	if r := s.api("GET", "/api/v1/environments", nil); strings.Contains(string(r.Body), `"id"`) {
		t.Errorf("the refused launch launched: %s", r.Body)
	}
	refused, err := s.Service.AuditLog(context.Background(), envs.System, envs.AuditFilter{Action: "request.refused"})
	if err != nil {
		t.Fatal(err)
	}
	if len(refused) != 3 {
		t.Errorf("%d refused requests audited, want the 3 POSTs: %+v", len(refused), refused)
	}
	for _, e := range refused {
		if !strings.Contains(e.Detail, evil) || e.Address != "127.0.0.1" || !strings.HasPrefix(e.Target, "POST /") {
			t.Errorf("audit entry %+v, want the POST, the host and the client address", e)
		}
	}
}
