package main

import (
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/catalog"
	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/tofu/tofutest"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// tofuTestFlags are the flags that turn the tofu provider on with the cached
// OpenTofu binary and a filesystem mirror holding hashicorp/local 1.4.0
// (skipped without the tools, see toolcache).
func tofuTestFlags(t *testing.T, extra ...string) []string {
	t.Helper()
	bin, mirror := tofutest.Tools(t)
	return append([]string{"--tofu-binary", bin, "--tofu-mirror", mirror, "--providers", "local,tofu",
		"--tofu-init-timeout", "20s", "--tofu-plan-timeout", "20s", "--tofu-apply-timeout", "20s", "--tofu-destroy-timeout", "20s"}, extra...)
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

// processGone waits until a killed process has exited (and was reaped).
func processGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func TestTofuSampleLifecycle(t *testing.T) {
	s := startTofuMain(t)
	ctx := context.Background()
	var checks struct {
		Items []struct {
			Provider  string `json:"provider"`
			Reachable bool   `json:"reachable"`
			Detail    string `json:"detail"`
		} `json:"items"`
	}
	s.api("GET", "/api/v1/admin/providers", nil).decode(t, &checks)
	if c := checks.Items; len(c) != 1 || c[0].Provider != "tofu" || !c[0].Reachable || !strings.Contains(c[0].Detail, "1.10.10") {
		t.Errorf("admin providers: %+v, want tofu 1.10.10", checks)
	}
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
	if !processGone(pid, 5*time.Second) {
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

// tofuCatalog is the test catalog of tofu templates.
func tofuCatalog(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "tofu-catalog"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTofuSecretsStayHidden: a secret parameter reaches the configuration
// (as TF_VAR_token) but never tofu's command line, the timeline, the logs
// or the outputs; a sensitive output is not shown.
func TestTofuSecretsStayHidden(t *testing.T) {
	s := startTofuMain(t, "--catalog-dir", tofuCatalog(t))
	const secret = "tok-SECRET-93ab51"
	e := s.launch(map[string]any{"template": "tofu-slow", "name": "secretive", "ttl": "30m",
		"params": map[string]any{"token": secret, "seconds": 0}})
	ready := s.waitStatus(e.ID, "ready", 60*time.Second)
	if ready.Outputs["token_length"] != "17" {
		t.Errorf("outputs %v: want token_length 17 (the variable got the secret)", ready.Outputs)
	}
	if _, shown := ready.Outputs["token"]; shown {
		t.Errorf("the sensitive output is shown: %v", ready.Outputs)
	}
	argv, err := os.ReadFile(filepath.Join(ready.Outputs["dir"], "argv.txt"))
	if err != nil || !strings.Contains(string(argv), "apply") {
		t.Fatalf("tofu's command line as the stack saw it: %q %v", argv, err)
	}
	if strings.Contains(string(argv), secret) {
		t.Errorf("the secret is on tofu's command line: %s", argv)
	}
	evs := strings.Join(s.events(e.ID), "\n")
	logs := s.api("GET", "/api/v1/environments/"+e.ID+"/logs", nil)
	raw, _ := os.ReadFile(filepath.Join(s.Config.DataDir, "logs", "tofu", e.ID+".log"))
	for what, text := range map[string]string{"timeline": evs, "logs": string(logs.Body), "log file": string(raw)} {
		if strings.Contains(text, secret) || strings.Contains(text, s.Service.TofuStates().Credential(e.ID)) {
			t.Errorf("the %s quote a secret:\n%s", what, text)
		}
	}
	s.destroyClean(e.ID)
}

// TestTofuForeignLockIsNotBroken: a lock someone else holds stops
// Mayfly's runs with a reason naming the holder; it is never
// force-unlocked. Released, the destroy goes through.
func TestTofuForeignLockIsNotBroken(t *testing.T) {
	s := startTofuMain(t, "--catalog-dir", tofuCatalog(t), "--destroy-attempts", "1")
	e := s.launch(map[string]any{"template": "tofu-slow", "name": "locked", "ttl": "30m",
		"params": map[string]any{"token": "t0ken", "seconds": 0}})
	s.waitStatus(e.ID, "ready", 60*time.Second)
	pw := s.Service.TofuStates().Credential(e.ID)
	lock := `{"ID":"held-by-alice","Operation":"OperationTypeApply","Who":"alice@laptop"}`
	if code, body := s.stateCall("LOCK", e.ID, "alice", pw, "", lock); code != http.StatusOK {
		t.Fatalf("LOCK: %d %s", code, body)
	}
	if r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
		t.Fatalf("destroy: %d %s", r.Status, r.Body)
	}
	failed := s.waitStatus(e.ID, "destroy_failed", 60*time.Second)
	if !strings.Contains(failed.StatusReason+failed.FailureReason, "locked by alice") {
		t.Errorf("reason %q / %q: want it to name alice's lock", failed.StatusReason, failed.FailureReason)
	}
	if l, err := s.Service.TofuStates().Lock(t.Context(), e.ID); err != nil || l.ID != "held-by-alice" {
		t.Fatalf("lock after the failed destroy: %+v %v, want alice's still held", l, err)
	}
	if code, body := s.stateCall("UNLOCK", e.ID, "alice", pw, "", lock); code != http.StatusOK {
		t.Fatalf("UNLOCK: %d %s", code, body)
	}
	if r := s.api("POST", "/api/v1/environments/"+e.ID+"/retry-destroy", map[string]any{}); r.Status != http.StatusAccepted {
		t.Fatalf("retry-destroy: %d %s", r.Status, r.Body)
	}
	s.waitStatus(e.ID, "destroyed", 60*time.Second)
}

// TestTofuResumesAfterPortalKilledMidApply: the portal is SIGKILLed while
// an apply holds the state's lock (its tofu dies with it); the restarted
// portal finds the lock its own, stale, force-unlocks it and finishes the
// launch, which it can then destroy.
func TestTofuResumesAfterPortalKilledMidApply(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real portal processes")
	}
	// SQLite: the restarted portal is the only one, so the lock it finds
	// is stale at once (on PostgreSQL a lock of another replica's is stale
	// only after a run's timeout: see TestStaleLock in envs/tofu).
	dataDir, addr := t.TempDir(), freeAddr(t)
	// (startPortal's 8s job timeout is too short for a launch's three steps.)
	flags := append(tofuTestFlags(t), "--catalog-dir", tofuCatalog(t), "--job-timeout", "70s", "--rescue-after", "80s")
	p := startPortal(t, dataDir, "", addr, flags...)
	s := p.server()
	e := s.launch(map[string]any{"template": "tofu-slow", "name": "crashy", "ttl": "30m",
		"params": map[string]any{"token": "t0ken", "seconds": 4}})
	deadline := time.Now().Add(30 * time.Second)
	for !containsAny(s.events(e.ID), "Provisioning with 'local-exec'") {
		if time.Now().After(deadline) {
			t.Fatalf("the apply did not start: %v", s.events(e.ID))
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.kill()

	p = startPortal(t, dataDir, "", addr, flags...)
	defer p.kill()
	s = p.server()
	ready := s.waitStatus(e.ID, "ready", 60*time.Second)
	if !containsAny(s.events(e.ID), "Releasing the lock of an interrupted run") {
		t.Errorf("timeline does not say the stale lock was released:\n%s", strings.Join(s.events(e.ID), "\n"))
	}
	runs, _ := os.ReadFile(filepath.Join(ready.Outputs["dir"], "runs.txt"))
	if n := strings.Count(string(runs), "started"); n != 2 {
		t.Errorf("the provisioner ran %d times, want 2 (the killed apply and the resumed one)", n)
	}
	if r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
		t.Fatalf("destroy: %d %s", r.Status, r.Body)
	}
	s.waitStatus(e.ID, "destroyed", 60*time.Second)
	if entries, _ := os.ReadDir(filepath.Join(dataDir, "tofu")); len(entries) > 0 {
		t.Errorf("work dirs left after destroy: %v", entries)
	}
}

// TestTofuDriftAfterHandEdit: a file of the stack changed by hand is
// drift (plan -detailed-exitcode), reported on the environment.
func TestTofuDriftAfterHandEdit(t *testing.T) {
	s := startTofuMain(t)
	e := s.launch(map[string]any{"template": "tofu-files", "name": "drifty", "ttl": "30m", "params": map[string]any{}})
	ready := s.waitStatus(e.ID, "ready", 60*time.Second)
	if d := s.checkDrift(e.ID); d.Status != "in_sync" {
		t.Fatalf("drift before any change: %+v", d)
	}
	page := strings.TrimPrefix(ready.Outputs["page"], "file://")
	if err := os.WriteFile(page, []byte("<h1>defaced</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := s.checkDrift(e.ID)
	if d.Status != "drifted" || len(d.Items) == 0 || d.Items[0].Resource != "local_file.page" {
		t.Fatalf("drift after editing the page: %+v", d)
	}
	s.destroyClean(e.ID)
}

// TestTofuOrphanSweep: a state whose environment is gone (a stack made
// outside any environment here) is destroyed by the sweep, with its work
// dir and process; a live environment's stack is left alone.
func TestTofuOrphanSweep(t *testing.T) {
	s := startTofuMain(t, "--orphan-grace", "0s")
	ctx := t.Context()
	live := s.launch(map[string]any{"template": "tofu-files", "name": "alive", "ttl": "30m", "params": map[string]any{}})
	s.waitStatus(live.ID, "ready", 60*time.Second)
	src, err := fs.ReadFile(catalog.FS, "tofu/files-and-process.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := envs.ParseSpec(src)
	if err != nil {
		t.Fatal(err)
	}
	orphan := "env-orphan0001"
	req := envs.ProvisionRequest{EnvironmentID: orphan, Stack: spec.Stack, Params: map[string]string{"greeting": "Nobody home"}}
	if _, err := s.Tofu.Provision(ctx, req); err != nil {
		t.Fatalf("provision the orphan: %v", err)
	}
	st, _ := s.Tofu.Status(ctx, orphan)
	pid, alive := pidAlive(t, st.Outputs["pidfile"])
	if !alive {
		t.Fatalf("the orphan's process is not running: %+v", st)
	}
	swept, err := s.Service.SweepCloudOrphans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(swept) != 1 || swept[0].Handle != orphan || !swept[0].Deleted {
		t.Fatalf("swept %+v, want the orphan deleted", swept)
	}
	if !processGone(pid, 5*time.Second) {
		t.Errorf("the orphan's process %d still runs", pid)
	}
	if _, err := os.Stat(filepath.Join(s.Config.DataDir, "tofu", orphan)); !os.IsNotExist(err) {
		t.Errorf("the orphan's work dir is still there: %v", err)
	}
	stacks, _ := s.Tofu.Stacks(ctx)
	if len(stacks) != 1 || stacks[0] != live.ID {
		t.Errorf("stacks after the sweep: %v, want only %s", stacks, live.ID)
	}
	s.destroyClean(live.ID)
}

// TestTofuBadConfigurationRefusedAtPublish: publishing names the file and
// line at fault, from the stack's own checks and from tofu validate.
func TestTofuBadConfigurationRefusedAtPublish(t *testing.T) {
	s := startTofuMain(t, "--catalog-dir", tofuCatalog(t))
	head := "name: bad\nversion: 1.0.0\nkind: demo\ndescription: d\nowner: tests\nprovider: tofu\nttl: {default: 1h, max: 2h}\nstack:\n  files:\n"
	cases := []struct {
		name, files, field, msg string
	}{
		{"no files", "    {}\n", "stack.files", "is required"},
		{"own backend", "    main.tf: |\n      terraform {\n        backend \"s3\" {}\n      }\n", "stack.files[main.tf]", "line 2"},
		{"path outside", "    ../x.tf: |\n      locals {}\n", "stack.files[../x.tf]", "relative file name"},
		{"syntax error", "    main.tf: |\n      locals {\n        a = \n      }\n", "stack.files[main.tf]", "line 2: Invalid expression"},
		{"unknown reference", "    main.tf: |\n      output \"x\" {\n        value = var.missing\n      }\n", "stack.files[main.tf]", "line 2: Reference to undeclared input variable"},
		{"provider not in the mirror", "    main.tf: |\n      terraform {\n        required_providers {\n          null = { source = \"hashicorp/null\" }\n        }\n      }\n", "stack.files", "hashicorp/null"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(head+c.files))
			var p struct {
				Errors []envs.FieldError `json:"errors"`
			}
			r.decode(t, &p)
			found := false
			for _, f := range p.Errors {
				if f.Field == c.field && strings.Contains(f.Message, c.msg) {
					found = true
				}
			}
			if r.Status != http.StatusUnprocessableEntity || !found {
				t.Errorf("publish: %d %s, want 422 naming %s with %q", r.Status, r.Body, c.field, c.msg)
			}
		})
	}
}

// TestTofuModuleDirectory: a stack naming a module directory of the
// catalog is published with the directory's files inlined (sub-modules
// too), and runs from them.
func TestTofuModuleDirectory(t *testing.T) {
	cat := t.TempDir()
	if err := os.CopyFS(cat, os.DirFS(tofuCatalog(t))); err != nil {
		t.Fatal(err)
	}
	s := startTofuMain(t, "--catalog-dir", cat)
	e := s.launch(map[string]any{"template": "tofu-module", "name": "mod", "ttl": "30m", "params": map[string]any{"who": "Acme"}})
	if got := s.waitStatus(e.ID, "ready", 60*time.Second).Outputs["greeting"]; got != "hello, Acme" {
		t.Errorf("greeting = %q, want the sub-module's output", got)
	}
	// The version holds the files: editing the directory changes nothing
	// published, and publishing again is refused as other content.
	sub := filepath.Join(cat, "modules", "greeting", "sub", "main.tf")
	b, _ := os.ReadFile(sub)
	if err := os.WriteFile(sub, append(b, "# edited\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile(filepath.Join(cat, "tofu-module.yaml"))
	if r := s.do("POST", "/api/v1/templates", "application/yaml", src); r.Status != http.StatusConflict {
		t.Errorf("publish after editing the module: %d %s, want 409", r.Status, r.Body)
	}
	s.destroyClean(e.ID)

	head := "name: bad-module\nversion: 1.0.0\nkind: demo\ndescription: d\nowner: tests\nprovider: tofu\nttl: {default: 1h, max: 2h}\nstack:\n"
	for stack, msg := range map[string]string{
		"  module: ../outside\n":                           "must be a directory of the catalog",
		"  module: modules/missing\n":                      "modules/missing",
		"  module: modules/greeting\n  files: {a.tf: x}\n": "not both",
	} {
		r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(head+stack))
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "stack.module") || !strings.Contains(string(r.Body), msg) {
			t.Errorf("publish %q: %d %s, want 422 on stack.module with %q", stack, r.Status, r.Body, msg)
		}
	}
}

// TestTofuAnotherReplicaDestroys: on PostgreSQL a replica with its own
// data directory (no work dir of the stack, no local state of any kind)
// destroys a stack another replica launched, destroy-time provisioner
// included: everything it needs is in the database.
func TestTofuAnotherReplicaDestroys(t *testing.T) {
	if !storagetest.Postgres() {
		t.Skip("two replicas need PostgreSQL (set " + storagetest.EnvVar + "; make test does)")
	}
	dbURL := storagetest.URL(t)
	key := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shared := []string{"--database-url", dbURL, "--secret-key-file", key}
	a := startTofuMain(t, shared...)
	e := a.launch(map[string]any{"template": "tofu-files", "name": "shared", "ttl": "30m", "params": map[string]any{}})
	ready := a.waitStatus(e.ID, "ready", 60*time.Second)
	pid, alive := pidAlive(t, ready.Outputs["pidfile"])
	if !alive {
		t.Fatal("the stack's process is not running")
	}
	// Only replica b works from here on.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := startTofuMain(t, shared...)
	if _, err := os.Stat(filepath.Join(b.Config.DataDir, "tofu", e.ID)); !os.IsNotExist(err) {
		t.Fatalf("replica b has a work dir for the stack already: %v", err)
	}
	b.destroyClean(e.ID)
	if !processGone(pid, 5*time.Second) {
		t.Errorf("the stack's process %d still runs after replica b destroyed it", pid)
	}
	if rows, _ := b.Service.TofuStates().Stacks(t.Context()); len(rows) != 0 {
		t.Errorf("state rows left: %+v", rows)
	}
}

// TestTofuBinaryCheckedAtStart: a --tofu-binary that is not tofu stops the
// start with a clear error rather than failing every launch later.
func TestTofuBinaryCheckedAtStart(t *testing.T) {
	cfg := localConfig(t, "--tofu-binary", "/bin/true")
	err := NewMain(cfg).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--tofu-binary /bin/true") || !strings.Contains(err.Error(), "does not report a version") {
		t.Fatalf("Run = %v, want the binary refused", err)
	}
}

// TestTofuFailedApplyIsCleanedUp: an apply that fails half-way fails the
// launch with tofu's reason, and what it created is destroyed: no state
// row, no work dir.
func TestTofuFailedApplyIsCleanedUp(t *testing.T) {
	s := startTofuMain(t, "--catalog-dir", tofuCatalog(t), "--provision-attempts", "1")
	e := s.launch(map[string]any{"template": "tofu-fails", "name": "broken", "ttl": "30m"})
	failed := s.waitStatus(e.ID, "failed", 60*time.Second)
	if !strings.Contains(failed.FailureReason, "tofu apply failed") || !strings.Contains(failed.FailureReason, "local-exec") {
		t.Errorf("failure reason %q: want tofu's apply error", failed.FailureReason)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		e := s.env(e.ID)
		if e.StackCleanedAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failed launch's stack was not cleaned up: %+v", e)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rows, _ := s.Service.TofuStates().Stacks(t.Context()); len(rows) != 0 {
		t.Errorf("state rows left: %+v", rows)
	}
	if _, err := os.Stat(filepath.Join(s.Config.DataDir, "tofu", e.ID)); !os.IsNotExist(err) {
		t.Errorf("the work dir is still there: %v", err)
	}
}
