package main

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs/local"
)

func TestOperationsEndpoints(t *testing.T) {
	s := startMain(t, "")
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		if code, _, err := httpGet(s.url + path); err != nil || code != want {
			t.Errorf("GET %s = %d %v, want %d", path, code, err, want)
		}
	}
	e := s.launch(map[string]any{"template": "demo-shop", "params": map[string]any{"customer": "Hooli"}, "ttl": "3s"})
	s.waitStatus(e.ID, "destroyed", 30*time.Second)
	_, body, err := httpGet(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`mayfly_environments{status="destroyed"} 1`,
		`mayfly_provision_duration_seconds_count{provider="local",result="ready"} 1`,
		`mayfly_destroy_duration_seconds_count{provider="local"} 1`,
		`mayfly_reaper_lag_seconds_count 1`,
		`mayfly_http_requests_total{code="202",method="POST",route="/api/v1/environments"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Security headers on every response.
	r := s.do("GET", "/environments", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /environments: %d", r.Status)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options"} {
		if r.Header.Get(h) == "" {
			t.Errorf("response lacks %s", h)
		}
	}
}

func TestCrossSiteFormPostRefused(t *testing.T) {
	s := startMain(t, "")
	e := s.launch(map[string]any{"template": "demo-shop", "params": map[string]any{"customer": "Pied Piper"}})
	req, _ := http.NewRequest("POST", s.url+"/environments/"+e.ID+"/destroy", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST = %d, want 403", resp.StatusCode)
	}
	if got := s.env(e.ID).Status; got == "destroying" || got == "destroyed" {
		t.Errorf("a cross-site request destroyed the environment (%s)", got)
	}
}

func TestReaperDestroysEachExactlyOnce(t *testing.T) {
	s := startMain(t, testCatalog(t))
	// never-healthy fails and is cleaned up; use a template that comes up
	// instantly so many environments expire in the same second.
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(strings.Replace(publishedTemplate, "    required: true\n", "", 1))); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	var ids []string
	for i := 0; i < 12; i++ {
		ids = append(ids, s.launch(map[string]any{"template": "tiny", "ttl": "3s"}).ID)
	}
	for _, id := range ids {
		s.waitStatus(id, "destroyed", 30*time.Second)
		msgs := strings.Join(s.events(id), "\n")
		if n := strings.Count(msgs, "TTL expired"); n != 1 {
			t.Errorf("%s expired %d times, want once:\n%s", id, n, msgs)
		}
		if n := strings.Count(msgs, "Destroyed"); n != 1 {
			t.Errorf("%s destroyed %d times, want once", id, n)
		}
	}
}

func TestDeadStackIsFlagged(t *testing.T) {
	s := startMain(t, "")
	e := s.launch(map[string]any{"template": "demo-shop", "params": map[string]any{"customer": "Vandelay"}})
	s.waitStatus(e.ID, "ready", 30*time.Second)
	for _, pid := range local.Processes(e.ID) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := s.env(e.ID)
		if strings.Contains(got.StatusReason, "Stack is not healthy") && strings.Contains(got.StatusReason, "web") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status_reason = %q, want the dead service named", got.StatusReason)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !containsAny(s.events(e.ID), "Stack is not healthy") {
		t.Errorf("timeline lacks the failure: %q", s.events(e.ID))
	}
}
