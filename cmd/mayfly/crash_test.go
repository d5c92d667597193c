package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// portal is a real Mayfly process (this test binary re-executed as
// "serve"), so the test can SIGKILL it like a crash would.
type portal struct {
	t       *testing.T
	cmd     *exec.Cmd
	dataDir string
	dbURL   string
	addr    string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startPortal starts a portal process on dbURL ("" for SQLite in dataDir)
// and waits until it is ready; extra flags come last and win.
func startPortal(t *testing.T, dataDir, dbURL, addr string, extra ...string) *portal {
	t.Helper()
	// A short job timeout and rescue time: on PostgreSQL nothing requeues a
	// dead portal's jobs at start, River's rescuer does (on SQLite the
	// restart requeues them at once). slow-setup's longest step is ~5s.
	args := append([]string{"serve", "--addr", addr, "--data-dir", dataDir, "--database-url", dbURL,
		"--catalog-dir", testCatalog(t), "--reaper-sweep-interval", "1s", "--stop-grace", "2s", "--log-level", "warn",
		"--job-timeout", "8s", "--rescue-after", "10s"}, extra...)
	cmd := exec.Command(os.Args[0], args...)
	logf, err := os.OpenFile(filepath.Join(dataDir, "portal.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &portal{t: t, cmd: cmd, dataDir: dataDir, dbURL: dbURL, addr: addr}
	// However the test ends (a t.Fatal before its own kill), no portal
	// outlives it; this runs after the log tail below (cleanups run last
	// registered first), which reports a portal that had died by itself.
	t.Cleanup(p.kill)
	t.Cleanup(func() { p.logTailIfFailed(addr) })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if code, _, err := httpGet("http://" + addr + "/readyz"); err == nil && code == http.StatusOK {
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.kill()
	log, _ := os.ReadFile(filepath.Join(dataDir, "portal.log"))
	t.Fatalf("portal did not become ready:\n%s", log)
	return nil
}

// logTailIfFailed shows the end of the portals' shared log when the test
// failed, once per data directory: a portal that died (a panic, a fatal
// start-up error) says why there and nowhere else.
var logsShown sync.Map // data directory -> its log was shown

func (p *portal) logTailIfFailed(addr string) {
	if !p.t.Failed() {
		return
	}
	if state := p.cmd.ProcessState; state != nil {
		p.t.Logf("portal %s: %s", addr, state)
	}
	if _, shown := logsShown.LoadOrStore(p.dataDir, true); shown {
		return
	}
	log, err := os.ReadFile(filepath.Join(p.dataDir, "portal.log"))
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	var keep []string
	for _, l := range lines {
		// River's noise while a cluster or a portal stops says nothing.
		if !strings.Contains(l, "PeriodicJobEnqueuer") {
			keep = append(keep, l)
		}
	}
	if len(keep) > 80 {
		keep = keep[len(keep)-80:]
	}
	p.t.Logf("end of %s/portal.log:\n%s", p.dataDir, strings.Join(keep, "\n"))
}

func (p *portal) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func (p *portal) server() *testServer {
	return &testServer{t: p.t, url: "http://" + p.addr}
}

func TestCrashMidProvisionAndRestart(t *testing.T) {
	t.Parallel() // its own database, data directory and ports; mostly waiting on processes
	if testing.Short() {
		t.Skip("starts real portal processes")
	}
	dataDir, dbURL := t.TempDir(), storagetest.URL(t)
	addr := freeAddr(t)
	p := startPortal(t, dataDir, dbURL, addr)
	s := p.server()
	e := s.launch(map[string]any{"template": "slow-setup", "name": "crashy", "ttl": "10m"})
	s.waitStatus(e.ID, "provisioning", 10*time.Second)
	time.Sleep(500 * time.Millisecond) // inside the setup step
	p.kill()

	// The second run finds the interrupted job and finishes the launch.
	p = startPortal(t, dataDir, dbURL, addr)
	s = p.server()
	ready := s.waitStatus(e.ID, "ready", 60*time.Second)
	url := ready.Outputs["url"]
	if code, _, err := httpGet(url); err != nil || code != http.StatusOK {
		t.Fatalf("GET %s after recovery: %d %v", url, code, err)
	}

	// A crash while ready leaves the stack running; the next run finds it.
	p.kill()
	p = startPortal(t, dataDir, dbURL, addr)
	defer p.kill()
	s = p.server()
	if got := s.env(e.ID); got.Status != "ready" || got.Outputs["url"] != url {
		t.Fatalf("after restart: %+v", got)
	}
	if code, _, err := httpGet(url); err != nil || code != http.StatusOK {
		t.Fatalf("GET %s after restart: %d %v", url, code, err)
	}

	s.destroyClean(e.ID)
	entries, _ := os.ReadDir(filepath.Join(dataDir, "stacks"))
	if len(entries) > 0 {
		t.Errorf("stack directories leaked: %v", entries)
	}
	if _, _, err := httpGet(url); err == nil {
		t.Errorf("GET %s still answers after destroy", url)
	}
}

func TestReapsWhatExpiredWhileDown(t *testing.T) {
	t.Parallel() // its own database, data directory and ports; mostly waiting on processes
	if testing.Short() {
		t.Skip("starts real portal processes")
	}
	dataDir, dbURL := t.TempDir(), storagetest.URL(t)
	addr := freeAddr(t)
	p := startPortal(t, dataDir, dbURL, addr)
	s := p.server()
	e := s.launch(map[string]any{"template": "slow-setup", "name": "short-lived", "ttl": "7s"})
	ready := s.waitStatus(e.ID, "ready", 30*time.Second)
	url := ready.Outputs["url"]
	p.kill()
	time.Sleep(time.Until(ready.ExpiresAt) + time.Second) // expires while Mayfly is down

	p = startPortal(t, dataDir, dbURL, addr)
	defer p.kill()
	s = p.server()
	s.waitStatus(e.ID, "destroyed", 20*time.Second)
	if _, _, err := httpGet(url); err == nil {
		t.Errorf("GET %s still answers after the reaper ran", url)
	}
	if msgs := s.events(e.ID); !containsAny(msgs, "TTL expired") {
		t.Errorf("timeline lacks the expiry: %q", msgs)
	} else if n := strings.Count(strings.Join(msgs, "\n"), "TTL expired"); n != 1 {
		t.Errorf("expired %d times, want exactly once", n)
	}
}

// SIGTERM stops a portal gracefully: it closes SSE streams, lets the job in
// flight finish or hands it back, and exits 0; the next start carries on.
func TestSIGTERMStopsGracefully(t *testing.T) {
	t.Parallel() // its own database, data directory and ports; mostly waiting on processes
	if testing.Short() {
		t.Skip("starts real portal processes")
	}
	dataDir, dbURL := t.TempDir(), storagetest.URL(t)
	addr := freeAddr(t)
	p := startPortal(t, dataDir, dbURL, addr)
	s := p.server()
	e := s.launch(map[string]any{"template": "slow-setup", "name": "terminated", "ttl": "10m"})
	s.waitStatus(e.ID, "provisioning", 10*time.Second)
	resp, err := http.Get(s.url + "/environments/" + e.ID + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	streamDone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, resp.Body)
		close(streamDone)
	}()

	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(dataDir, "portal.log"))
			t.Fatalf("exit after SIGTERM: %v\n%s", err, log)
		}
	case <-time.After(20 * time.Second):
		p.kill()
		t.Fatal("the portal did not exit within 20s of SIGTERM")
	}
	t.Logf("exited 0 %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	select {
	case <-streamDone:
	case <-time.After(5 * time.Second):
		t.Error("the SSE stream stayed open after the portal exited")
	}

	p = startPortal(t, dataDir, dbURL, addr)
	defer p.kill()
	s = p.server()
	s.waitStatus(e.ID, "ready", 60*time.Second)
	if r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
		t.Fatalf("destroy: %d %s", r.Status, r.Body)
	}
	s.waitStatus(e.ID, "destroyed", 30*time.Second)
	if msgs := strings.Join(s.events(e.ID), "\n"); strings.Count(msgs, "Ready") != 1 {
		t.Errorf("ready %d times, want once:\n%s", strings.Count(msgs, "Ready"), msgs)
	}
}
