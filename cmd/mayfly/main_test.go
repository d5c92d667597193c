package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/catalog/shop"
	"github.com/mayflyhq/mayfly/envs/kube/kubetest"
	"github.com/mayflyhq/mayfly/envs/local"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// TestMain lets the test binary stand in for the mayfly binary: the local
// provider starts `<own executable> sample-app ...` for the sample catalog,
// and the crash test starts `<own executable> serve ...` as a real portal.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "sample-app":
			os.Exit(shop.Main(os.Args[2:], os.Stdout, os.Stderr))
		case "serve", "env", "template":
			os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
		}
	}
	code := m.Run()
	kubetest.StopShared() // the control plane of the kubernetes tests, if one ran
	os.Exit(code)
}

type testServer struct {
	*Main
	t   *testing.T
	url string
}

// startMain runs the real Main on port 0 with a temporary data directory.
func startMain(t *testing.T, catalogDir string) *testServer {
	t.Helper()
	cfg := localConfig(t)
	cfg.CatalogDir = catalogDir
	return runTestMain(t, cfg)
}

// localConfig is startMain's configuration (local mode), with extra flags
// last, for tests that change settings before running it.
func localConfig(t *testing.T, extra ...string) Config {
	t.Helper()
	args := append([]string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "warn",
		"--database-url", storagetest.URL(t),
		"--reaper-sweep-interval", "1s", "--stop-grace", "2s"}, extra...)
	cfg, err := ParseConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runTestMain runs Main with cfg until the test ends.
func runTestMain(t *testing.T, cfg Config) *testServer {
	t.Helper()
	m := NewMain(cfg)
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := &testServer{Main: m, t: t, url: m.URL()}
	// Close first: once the orchestrator has stopped, no provision job can
	// start a process after destroyAll has looked for stacks (that leaked a
	// shop process per run).
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		s.destroyAll()
	})
	return s
}

// destroyClean destroys an environment through the API, waits for it to
// be destroyed and checks that none of its processes is left.
func (s *testServer) destroyClean(id string) {
	s.t.Helper()
	if r := s.api("DELETE", "/api/v1/environments/"+id, nil); r.Status != http.StatusAccepted {
		s.t.Fatalf("destroy: %d %s", r.Status, r.Body)
	}
	s.waitStatus(id, "destroyed", 30*time.Second)
	assertNoProcesses(s.t, id)
}

// assertNoProcesses checks that no process of the environment is running.
func assertNoProcesses(t *testing.T, id string) {
	t.Helper()
	if pids := local.Processes(id); len(pids) > 0 {
		t.Errorf("processes of %s still running: %v", id, pids)
	}
}

// destroyAll destroys every stack so no test leaks processes.
func (s *testServer) destroyAll() {
	handles, _ := s.Local.Stacks(context.Background())
	for _, h := range handles {
		if _, err := s.Local.Destroy(context.Background(), h); err != nil {
			s.t.Errorf("destroy %s: %v", h, err)
		}
	}
}

type apiResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r apiResponse) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (s *testServer) do(method, path, contentType string, body []byte) apiResponse {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (s *testServer) api(method, path string, body any) apiResponse {
	s.t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			s.t.Fatal(err)
		}
	}
	return s.do(method, path, "application/json", b)
}

type envJSON struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Status         string            `json:"status"`
	StatusReason   string            `json:"status_reason"`
	DestroyGivenUp bool              `json:"destroy_given_up"`
	FailureReason  string            `json:"failure_reason"`
	Outputs        map[string]string `json:"outputs"`
	Facts          map[string]string `json:"facts"`
	Params         map[string]any    `json:"params"`
	SecretParams   []string          `json:"secret_params"`
	ExpiresAt      time.Time         `json:"expires_at"`
	MaxExpiresAt   time.Time         `json:"max_expires_at"`
	RTOSeconds     *float64          `json:"rto_seconds"`
	RPOSeconds     *float64          `json:"rpo_seconds"`
	StackCleanedAt *time.Time        `json:"stack_cleaned_at"`
	StackHeldUntil *time.Time        `json:"stack_held_until"`
	ExpiresSoon    bool              `json:"expires_soon"`
	WarnedAt       *time.Time        `json:"warned_at"`
}

func (s *testServer) launch(body map[string]any) envJSON {
	s.t.Helper()
	r := s.api("POST", "/api/v1/environments", body)
	if r.Status != http.StatusAccepted {
		s.t.Fatalf("launch: status %d: %s", r.Status, r.Body)
	}
	var e envJSON
	r.decode(s.t, &e)
	return e
}

func (s *testServer) env(id string) envJSON {
	s.t.Helper()
	r := s.api("GET", "/api/v1/environments/"+id, nil)
	if r.Status != http.StatusOK {
		s.t.Fatalf("get %s: status %d: %s", id, r.Status, r.Body)
	}
	var e envJSON
	r.decode(s.t, &e)
	return e
}

// waitStatus polls until the environment reaches want, failing fast if it
// reaches another terminal state.
func (s *testServer) waitStatus(id, want string, timeout time.Duration) envJSON {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var e envJSON
	for time.Now().Before(deadline) {
		e = s.env(id)
		if e.Status == want {
			return e
		}
		if e.Status == "destroyed" && want != "destroyed" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("environment %s: status %q (reason %q, failure %q), want %q", id, e.Status, e.StatusReason, e.FailureReason, want)
	return e
}

func (s *testServer) events(id string) []string {
	s.t.Helper()
	var out struct {
		Items []struct {
			Message string `json:"message"`
		} `json:"items"`
	}
	s.api("GET", "/api/v1/environments/"+id+"/events", nil).decode(s.t, &out)
	msgs := make([]string, len(out.Items))
	for i, it := range out.Items {
		msgs[i] = it.Message
	}
	return msgs
}

func httpGet(url string) (int, string, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func containsAny(list []string, substr string) bool {
	for _, s := range list {
		if strings.Contains(s, substr) {
			return true
		}
	}
	return false
}

func testCatalog(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("testdata/catalog")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLaunchReadyExpireDestroyed(t *testing.T) {
	s := startMain(t, "")
	e := s.launch(map[string]any{"template": "demo-shop", "name": "acme-demo", "params": map[string]any{"customer": "Acme Corp"}, "ttl": "8s"})
	if e.Status != "pending" {
		t.Errorf("status at launch = %q, want pending", e.Status)
	}
	ready := s.waitStatus(e.ID, "ready", 30*time.Second)
	url := ready.Outputs["url"]
	if url == "" {
		t.Fatalf("no url output: %+v", ready.Outputs)
	}
	code, body, err := httpGet(url)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, code, err)
	}
	if !strings.Contains(body, "Acme Corp") {
		t.Errorf("the shop does not show the customer: %.300s", body)
	}

	destroyed := s.waitStatus(e.ID, "destroyed", 30*time.Second)
	if lag := time.Since(destroyed.ExpiresAt); lag > 10*time.Second {
		t.Errorf("destroyed %s after expiry, want within seconds", lag)
	}
	if _, _, err := httpGet(url); err == nil {
		t.Errorf("GET %s still answers after destroy", url)
	}
	if _, err := os.Stat(filepath.Join(s.Config.DataDir, "stacks", e.ID)); !os.IsNotExist(err) {
		t.Errorf("stack directory still exists: %v", err)
	}
	msgs := s.events(e.ID)
	for _, want := range []string{"Launched demo-shop@1.0.0", "Ready", "TTL expired", "Destroyed"} {
		if !containsAny(msgs, want) {
			t.Errorf("timeline lacks %q: %q", want, msgs)
		}
	}
	// Logs outlive the stack.
	r := s.api("GET", "/api/v1/environments/"+e.ID+"/logs?service=web", nil)
	if r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte("web")) {
		t.Errorf("logs after destroy: %d %s", r.Status, r.Body)
	}
}

func TestExtend(t *testing.T) {
	s := startMain(t, "")
	e := s.launch(map[string]any{"template": "demo-shop", "params": map[string]any{"customer": "Globex"}, "ttl": "1h"})
	r := s.api("POST", "/api/v1/environments/"+e.ID+"/extend", map[string]string{"ttl": "2h"})
	if r.Status != http.StatusOK {
		t.Fatalf("extend: %d %s", r.Status, r.Body)
	}
	var got envJSON
	r.decode(t, &got)
	if want := e.ExpiresAt.Add(2 * time.Hour); !got.ExpiresAt.Equal(want) {
		t.Errorf("expires_at = %s, want %s", got.ExpiresAt, want)
	}
	// demo-shop's max TTL is 8h: 1h + 2h + 6h is past it.
	r = s.api("POST", "/api/v1/environments/"+e.ID+"/extend", map[string]string{"ttl": "6h"})
	assertProblem(t, r, http.StatusUnprocessableEntity, "ttl")
	if after := s.env(e.ID); !after.ExpiresAt.Equal(got.ExpiresAt) {
		t.Errorf("a refused extension moved expires_at to %s", after.ExpiresAt)
	}
	if !containsAny(s.events(e.ID), "Extended by 2h") {
		t.Errorf("timeline lacks the extension: %q", s.events(e.ID))
	}
}

func TestDestroyWhileProvisioning(t *testing.T) {
	s := startMain(t, testCatalog(t))
	e := s.launch(map[string]any{"template": "slow-setup", "name": "slow"})
	s.waitStatus(e.ID, "provisioning", 10*time.Second)
	r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("destroy: %d %s", r.Status, r.Body)
	}
	s.waitStatus(e.ID, "destroyed", 30*time.Second)
	if _, err := os.Stat(filepath.Join(s.Config.DataDir, "stacks", e.ID)); !os.IsNotExist(err) {
		t.Errorf("stack directory still exists: %v", err)
	}
	assertNoProcesses(t, e.ID)
	// Destroy is idempotent.
	if r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
		t.Errorf("second destroy: %d %s", r.Status, r.Body)
	}
	if got := s.env(e.ID).Status; got != "destroyed" {
		t.Errorf("status after a second destroy = %q", got)
	}
}

func TestHealthCheckFails(t *testing.T) {
	s := startMain(t, testCatalog(t))
	e := s.launch(map[string]any{"template": "never-healthy"})
	// It stays failed (see TestFailedLaunchStaysVisible); its stack is
	// cleaned up.
	got := s.waitCleaned(e.ID, 30*time.Second)
	if !strings.Contains(got.FailureReason, "did not become healthy") {
		t.Errorf("failure reason = %q, want it to say the service did not become healthy", got.FailureReason)
	}
	assertNoProcesses(t, e.ID)
	msgs := s.events(e.ID)
	for _, want := range []string{"Launch failed", "Cleaning up the failed launch", "Stack cleaned up"} {
		if !containsAny(msgs, want) {
			t.Errorf("timeline lacks %q: %q", want, msgs)
		}
	}
}

func TestDRDrillRecordsRTOAndRPO(t *testing.T) {
	s := startMain(t, "")
	e := s.launch(map[string]any{"template": "shop-dr-drill", "ttl": "10m"})
	got := s.waitStatus(e.ID, "ready", 60*time.Second)
	if got.RTOSeconds == nil || *got.RTOSeconds <= 0 || *got.RTOSeconds > 60 {
		t.Errorf("rto_seconds = %v, want the seconds from launch to verified", got.RTOSeconds)
	}
	if got.RPOSeconds == nil || *got.RPOSeconds < 0 {
		t.Errorf("rpo_seconds = %v, want the snapshot's age", got.RPOSeconds)
	}
	if got.Facts["verified_at"] == "" || got.Facts["snapshot_taken_at"] == "" {
		t.Errorf("facts = %v, want verified_at and snapshot_taken_at", got.Facts)
	}
	if !containsAny(s.events(e.ID), "RTO") {
		t.Errorf("timeline lacks the RTO: %q", s.events(e.ID))
	}
}

func TestReplicaRestoresProductionSnapshot(t *testing.T) {
	s := startMain(t, "")
	e := s.launch(map[string]any{"template": "shop-replica", "ttl": "10m"})
	got := s.waitStatus(e.ID, "ready", 60*time.Second)
	code, body, err := httpGet(strings.TrimSuffix(got.Outputs["url"], "/") + "/api/stats")
	if err != nil || code != http.StatusOK {
		t.Fatalf("stats: %d %v", code, err)
	}
	var stats struct {
		Tables map[string]int `json:"tables"`
	}
	if err := json.Unmarshal([]byte(body), &stats); err != nil {
		t.Fatal(err)
	}
	if stats.Tables["orders"] != shop.ProductionOrders {
		t.Errorf("replica has %d orders, want the production snapshot's %d", stats.Tables["orders"], shop.ProductionOrders)
	}
}

func assertProblem(t *testing.T, r apiResponse, status int, field string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d: %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type = %q, want application/problem+json", ct)
	}
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
		Errors []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
			Line    int    `json:"line"`
		} `json:"errors"`
	}
	r.decode(t, &p)
	if p.Status != status || p.Detail == "" {
		t.Errorf("problem = %+v", p)
	}
	if field == "" {
		return
	}
	for _, e := range p.Errors {
		if e.Field == field && e.Message != "" {
			return
		}
	}
	t.Errorf("problem names no error for field %q: %s", field, r.Body)
}
