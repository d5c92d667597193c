package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs/tofu/tofutest"
)

// tofuTestFlags are the flags that turn the tofu provider on with the cached
// OpenTofu binary and a filesystem mirror holding hashicorp/local 1.4.0
// (skipped without the tools, see toolcache).
func tofuTestFlags(t *testing.T, extra ...string) []string {
	t.Helper()
	bin, mirror := tofutest.Tools(t)
	return append([]string{"--tofu-binary", bin, "--tofu-mirror", mirror, "--providers", "local,tofu",
		"--tofu-init-timeout", "60s", "--tofu-plan-timeout", "60s", "--tofu-apply-timeout", "60s", "--tofu-destroy-timeout", "60s"}, extra...)
}

// startTofuMain runs Main with the tofu provider and the built-in catalog
// (its tofu sample loads).
func startTofuMain(t *testing.T, extra ...string) *testServer {
	t.Helper()
	return runTestMain(t, localConfig(t, tofuTestFlags(t, extra...)...))
}

// pidAlive reports whether the process in a pid file runs.
func pidAlive(t *testing.T, pidfile string) (int, bool) {
	t.Helper()
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, false
	}
	return pid, syscall.Kill(pid, 0) == nil
}

func TestTofuSampleLifecycle(t *testing.T) {
	s := startTofuMain(t)
	ctx := context.Background()
	e := s.launch(map[string]any{"template": "tofu-files", "name": "files", "ttl": "30m",
		"params": map[string]any{"greeting": "Hello Acme", "access_code": "s3cret-code-4711"}})
	ready := s.waitStatus(e.ID, "ready", 60*time.Second)

	page := strings.TrimPrefix(ready.Outputs["page"], "file://")
	if b, err := os.ReadFile(page); err != nil || !strings.Contains(string(b), "Hello Acme") {
		t.Fatalf("page output %q: %q %v", ready.Outputs["page"], b, err)
	}
	pidfile := ready.Outputs["pidfile"]
	pid, alive := pidAlive(t, pidfile)
	if !alive {
		t.Fatalf("the stack's process (pid file %s) is not running", pidfile)
	}
	evs := s.events(e.ID)
	for _, want := range []string{"Plan: 3 to add", "local_file.page: Creation complete", "Apply complete!"} {
		if !containsAny(evs, want) {
			t.Errorf("timeline has no %q:\n%s", want, strings.Join(evs, "\n"))
		}
	}
	// The state is Mayfly's: in the database (sealed), never on disk.
	st, err := s.Service.TofuStates().State(ctx, e.ID)
	if err != nil || !strings.Contains(string(st), `"local_file"`) {
		t.Fatalf("state in the database: %s %v", st, err)
	}
	row, err := s.DB.TofuState(ctx, e.ID)
	if err != nil || strings.Contains(string(row.State), "local_file") || strings.Contains(string(row.Run), "s3cret") {
		t.Errorf("state row not sealed (err %v)", err)
	}
	// (.terraform/terraform.tfstate is the backend's settings, which come
	// from the environment: neither state nor credential.)
	filepath.WalkDir(s.Config.DataDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		switch {
		case strings.HasSuffix(p, ".tfstate") && filepath.Base(filepath.Dir(p)) != ".terraform":
			t.Errorf("a local state file exists: %s", p)
		case strings.Contains(string(b), "s3cret-code-4711") && filepath.Base(p) != ".access_code":
			t.Errorf("the secret is in %s", p)
		case strings.Contains(string(b), s.Service.TofuStates().Credential(e.ID)):
			t.Errorf("the state credential is in %s", p)
		}
		return nil
	})
	if logs := s.api("GET", "/api/v1/environments/"+e.ID+"/logs", nil); logs.Status != 200 || !strings.Contains(string(logs.Body), "Apply complete") {
		t.Errorf("logs: %d %s", logs.Status, logs.Body)
	}

	s.destroyClean(e.ID)
	if _, alive := pidAlive(t, pidfile); alive {
		t.Errorf("the stack's process %d still runs after destroy", pid)
	}
	if _, err := os.Stat(page); !os.IsNotExist(err) {
		t.Errorf("the page is still there after destroy: %v", err)
	}
	if rows, err := s.Service.TofuStates().Stacks(ctx); err != nil || len(rows) != 0 {
		t.Errorf("state rows after destroy: %+v %v", rows, err)
	}
	if _, err := os.Stat(filepath.Join(s.Config.DataDir, "tofu", e.ID)); !os.IsNotExist(err) {
		t.Errorf("the work dir is still there after destroy: %v", err)
	}
}
