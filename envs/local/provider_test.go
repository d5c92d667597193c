package local_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/local"
	"github.com/mayflyhq/mayfly/internal/testclock"
)

func TestLifecycle(t *testing.T) {
	// Stack processes must not inherit the portal's environment.
	t.Setenv("LOCAL_TEST_LEAK", "secret")
	cfg := testConfig(t)
	p := newProvider(t, cfg)
	stack := `{
		"setup": [{"command": ["sh", "-c", "echo preparing {{.Params.customer}}; echo line two"]}],
		"services": [
			{
				"name": "web",
				"command": ["{{.Mayfly}}", "--addr", "127.0.0.1:{{.Port}}"],
				"env": {
					"LOCAL_TEST_HELPER": "serve",
					"GORACE": "atexit_sleep_ms=0",
					"SHOP_TITLE": "Demo for {{.Params.customer}}",
					"API_URL": "http://127.0.0.1:{{.Ports.api}}/"
				},
				"health": {"path": "/healthz", "interval": "50ms", "timeout": "20s"},
				"outputs": {"url": "http://127.0.0.1:{{.Port}}/"}
			},
			` + serveService("api", "serve") + `
		]
	}`
	h := mustProvision(t, p, "env-1", stack, map[string]string{"customer": "acme"})
	if h != "env-1" {
		t.Fatalf("handle = %q, want env-1", h)
	}

	st, events := waitState(t, p, h, envs.StackReady)
	url := st.Outputs["url"]
	if !strings.HasPrefix(url, "http://127.0.0.1:") || st.Outputs["api_url"] == url {
		t.Fatalf("outputs = %v, want two distinct loopback URLs", st.Outputs)
	}
	for _, want := range []string{"setup: sh finished", "service web started on 127.0.0.1:", "service api started", "service web healthy", "service api healthy"} {
		if !contains(events, want) {
			t.Errorf("events = %q, want one containing %q", events, want)
		}
	}
	again, err := p.Status(context.Background(), h)
	if err != nil || again.State != envs.StackReady || len(again.Events) != 0 {
		t.Errorf("second Status = %+v, %v; want ready with no repeated events", again, err)
	}

	t.Run("service environment", func(t *testing.T) {
		for name, want := range map[string]string{
			"SHOP_TITLE":            "Demo for acme",
			"API_URL":               st.Outputs["api_url"],
			"MAYFLY_ENVIRONMENT_ID": "env-1",
			"MAYFLY_PARAM_CUSTOMER": "acme",
			"MAYFLY_PORT":           strings.TrimSuffix(strings.TrimPrefix(url, "http://127.0.0.1:"), "/"),
			"PATH":                  os.Getenv("PATH"),
			"LOCAL_TEST_LEAK":       "",
		} {
			if got := get(t, url+"env?name="+name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
	})

	t.Run("logs", func(t *testing.T) {
		streams, err := p.Logs(context.Background(), h, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range streams {
			names = append(names, s.Service)
		}
		if want := []string{"api", "setup", "web"}; !slices.Equal(names, want) {
			t.Fatalf("streams = %q, want %q", names, want)
		}
		if got := streams[1].Text; got != "preparing acme\nline two\n" || streams[1].Truncated {
			t.Errorf("setup log = %q (truncated %v)", got, streams[1].Truncated)
		}
		// A limit cuts at a line boundary.
		tail, err := p.Logs(context.Background(), h, "setup", 12)
		if err != nil {
			t.Fatal(err)
		}
		if len(tail) != 1 || tail[0].Text != "line two\n" || !tail[0].Truncated {
			t.Errorf("Logs(setup, 12) = %+v, want %q truncated", tail, "line two\n")
		}
		if _, err := p.Logs(context.Background(), h, "nope", 0); envs.ErrorCode(err) != envs.ENotFound {
			t.Errorf("Logs(nope): err = %v, want not found", err)
		}
	})

	handles, err := p.Stacks(context.Background())
	if err != nil || !slices.Equal(handles, []string{h}) {
		t.Fatalf("Stacks = %q, %v; want [%s]", handles, err, h)
	}
	pid := getPID(t, url)

	done, err := p.Destroy(context.Background(), h)
	if err != nil || !done {
		t.Fatalf("Destroy = %v, %v; want true, nil", done, err)
	}
	waitGone(t, pid)
	if _, err := httpClient.Get(url + "healthz"); err == nil {
		t.Errorf("GET %s after destroy: want an error", url)
	}
	if _, err := os.Stat(filepath.Join(cfg.Root, h)); !os.IsNotExist(err) {
		t.Errorf("work dir after destroy: stat err = %v, want not exist", err)
	}
	if handles, _ := p.Stacks(context.Background()); len(handles) != 0 {
		t.Errorf("Stacks after destroy = %q, want none", handles)
	}
	// Logs outlive the stack.
	streams, err := p.Logs(context.Background(), h, "web", 0)
	if err != nil || len(streams) != 1 || !strings.Contains(streams[0].Text, "stopping on SIGTERM") {
		t.Errorf("archived web log = %+v, %v; want the service's output", streams, err)
	}
	st, err = p.Status(context.Background(), h)
	if err != nil || st.State != envs.StackFailed || st.Reason != "stack not found" {
		t.Errorf("Status after destroy = %+v, %v; want failed: stack not found", st, err)
	}
}

func TestDestroyIsIdempotent(t *testing.T) {
	p := newProvider(t, testConfig(t))
	h := mustProvision(t, p, "twice", `{"services": [`+serveService("web", "serve")+`]}`, nil)
	waitState(t, p, h, envs.StackReady)
	for i := range 2 {
		if done, err := p.Destroy(context.Background(), h); err != nil || !done {
			t.Fatalf("Destroy #%d = %v, %v; want true, nil", i+1, done, err)
		}
	}
	if done, err := p.Destroy(context.Background(), "never-existed"); err != nil || !done {
		t.Fatalf("Destroy(unknown) = %v, %v; want true, nil", done, err)
	}
	if _, err := p.Logs(context.Background(), "never-existed", "", 0); envs.ErrorCode(err) != envs.ENotFound {
		t.Fatalf("Logs(unknown): err = %v, want not found", err)
	}
}

func TestCrashingServiceFails(t *testing.T) {
	p := newProvider(t, testConfig(t))
	h := mustProvision(t, p, "crash", `{"services": [{
		"name": "web",
		"command": ["{{.Mayfly}}"],
		"env": {"LOCAL_TEST_HELPER": "crash", "GORACE": "atexit_sleep_ms=0"}
	}]}`, nil)
	st := waitFailed(t, p, h)
	if want := `service "web" exited with status 1: boom`; st.Reason != want {
		t.Fatalf("reason = %q, want %q", st.Reason, want)
	}
}

// waitFailed polls Status until the stack fails (passing through ready is
// allowed: a crash may come after the first look).
func waitFailed(t *testing.T, p *local.Provider, h string) envs.StackStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := p.Status(context.Background(), h)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if st.State == envs.StackFailed {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("state = %s after 20s, want failed", st.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNeverHealthyServiceFails(t *testing.T) {
	clock := testclock.New(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	cfg := testConfig(t)
	cfg.Now = clock.Now
	p := newProvider(t, cfg)
	h := mustProvision(t, p, "unhealthy", `{"services": [{
		"name": "web",
		"command": ["{{.Mayfly}}", "--addr", "127.0.0.1:{{.Port}}"],
		"env": {"LOCAL_TEST_HELPER": "serve"},
		"health": {"path": "/missing", "interval": "1s", "timeout": "30s"}
	}]}`, nil)

	st, err := p.Status(context.Background(), h)
	if err != nil || st.State != envs.StackInProgress {
		t.Fatalf("Status before the timeout = %+v, %v; want in progress", st, err)
	}
	// Let the server come up, so the last error is its answer.
	deadline := time.Now().Add(10 * time.Second)
	for {
		logs, err := p.Logs(context.Background(), h, "web", 0)
		if err == nil && strings.Contains(logs[0].Text, "listening") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("service never started listening")
		}
		time.Sleep(20 * time.Millisecond)
	}
	clock.Add(31 * time.Second)
	st, err = p.Status(context.Background(), h)
	if err != nil || st.State != envs.StackFailed {
		t.Fatalf("Status after the timeout = %+v, %v; want failed", st, err)
	}
	if want := `service "web" did not become healthy within 30s: GET http://127.0.0.1:`; !strings.HasPrefix(st.Reason, want) || !strings.HasSuffix(st.Reason, "/missing: 404 Not Found") {
		t.Fatalf("reason = %q, want %q...404 Not Found", st.Reason, want)
	}
	// A failure is final.
	again, _ := p.Status(context.Background(), h)
	if again.State != envs.StackFailed || again.Reason != st.Reason {
		t.Fatalf("Status again = %+v, want the same failure", again)
	}
}

func TestDestroyKillsAfterStopGrace(t *testing.T) {
	cfg := testConfig(t)
	cfg.StopGrace = 500 * time.Millisecond
	p := newProvider(t, cfg)
	h := mustProvision(t, p, "stubborn", `{"services": [`+serveService("web", "ignore-term")+`]}`, nil)
	st, _ := waitState(t, p, h, envs.StackReady)
	pid := getPID(t, st.Outputs["web_url"])

	start := time.Now()
	if done, err := p.Destroy(context.Background(), h); err != nil || !done {
		t.Fatalf("Destroy = %v, %v; want true, nil", done, err)
	}
	if elapsed := time.Since(start); elapsed < cfg.StopGrace {
		t.Errorf("Destroy took %s, want at least the grace period %s", elapsed, cfg.StopGrace)
	}
	waitGone(t, pid)
	logs, err := p.Logs(context.Background(), h, "web", 0)
	if err != nil || !strings.Contains(logs[0].Text, "ignoring SIGTERM") {
		t.Errorf("web log = %+v, %v; want it to show SIGTERM came first", logs, err)
	}
}

// A shell service leaves a child in its process group; Destroy stops the
// whole group, even when the shell itself died first.
func TestDestroyStopsTheProcessGroup(t *testing.T) {
	for _, leaderDies := range []bool{false, true} {
		t.Run(fmt.Sprintf("leader dies first %v", leaderDies), func(t *testing.T) {
			cfg := testConfig(t)
			p := newProvider(t, cfg)
			h := mustProvision(t, p, "group", `{"services": [{
				"name": "web",
				"command": ["sh", "-c", "sleep 60 & echo $! > sleeper.pid; echo $$ > shell.pid; wait"]
			}]}`, nil)
			waitState(t, p, h, envs.StackReady)
			shell := readPID(t, filepath.Join(cfg.Root, h, "shell.pid"))
			sleeper := readPID(t, filepath.Join(cfg.Root, h, "sleeper.pid"))
			if leaderDies {
				syscall.Kill(shell, syscall.SIGKILL)
				st := waitFailed(t, p, h)
				if want := `service "web" was killed by signal killed`; st.Reason != want {
					t.Errorf("reason = %q, want %q", st.Reason, want)
				}
			}
			if done, err := p.Destroy(context.Background(), h); err != nil || !done {
				t.Fatalf("Destroy = %v, %v; want true, nil", done, err)
			}
			waitGone(t, shell)
			waitGone(t, sleeper)
		})
	}
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %s: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProvisionFailureLeavesNothingRunning(t *testing.T) {
	cfg := testConfig(t)
	p := newProvider(t, cfg)

	t.Run("setup fails", func(t *testing.T) {
		_, err := provision(t, p, "bad-setup", `{
			"setup": [{"command": ["sh", "-c", "echo bad thing happened; exit 3"]}],
			"services": [`+serveService("web", "serve")+`]
		}`, nil)
		if err == nil || !strings.Contains(err.Error(), "sh exited with status 3: bad thing happened") {
			t.Fatalf("Provision: err = %v, want the exit status and the output", err)
		}
		st, _ := p.Status(context.Background(), "bad-setup")
		if st.State != envs.StackFailed || !strings.Contains(st.Reason, "bad thing happened") {
			t.Errorf("Status = %+v, want failed with the setup output", st)
		}
	})

	t.Run("setup times out", func(t *testing.T) {
		start := time.Now()
		_, err := provision(t, p, "slow-setup", `{
			"setup": [{"name": "seed", "command": ["sh", "-c", "echo seeding; sleep 30"], "timeout": "300ms"}],
			"services": [`+serveService("web", "serve")+`]
		}`, nil)
		if err == nil || !strings.Contains(err.Error(), "seed timed out after 300ms: seeding") {
			t.Fatalf("Provision: err = %v, want a timeout naming the command", err)
		}
		if elapsed := time.Since(start); elapsed > 10*time.Second {
			t.Errorf("Provision took %s", elapsed)
		}
	})

	t.Run("second service cannot start", func(t *testing.T) {
		_, err := provision(t, p, "bad-service", `{"services": [
			{"name": "first", "command": ["sh", "-c", "echo $$ > first.pid; exec sleep 60"]},
			{"name": "second", "command": ["no-such-program-mayfly-test"]}
		]}`, nil)
		if err == nil || !strings.Contains(err.Error(), "start service second") {
			t.Fatalf("Provision: err = %v, want the service that failed", err)
		}
		// Whether or not the first service got far enough to write its pid,
		// nothing of this stack may be left running.
		waitNoProcesses(t, "bad-service")
	})
}

func TestRestoreFromSnapshot(t *testing.T) {
	cfg := testConfig(t)
	writeSnapshot(t, cfg.SnapshotsDir, "shop", "20261101T000000Z", "2026-11-01T00:00:00Z", "older")
	writeSnapshot(t, cfg.SnapshotsDir, "shop", "20261123T101500Z", "2026-11-23T10:15:00Z", "newest")
	// A dot-named directory is a snapshot still being written: never restored.
	writeSnapshot(t, cfg.SnapshotsDir, "shop", ".tmp-20261124", "2026-11-24T00:00:00Z", "partial")
	p := newProvider(t, cfg)

	stack := func(dataset, verify string) string {
		return `{
			"restore": {"snapshot": "` + dataset + `", "into": "data/restored"},
			"setup": [{"name": "seed", "command": ["sh", "-c", "cp data/restored/content.txt data/seen.txt"]}],
			"services": [` + serveService("web", "serve") + `],
			"verify": [{"command": ["sh", "-c", "` + verify + `"]}]
		}`
	}

	t.Run("restores the latest snapshot and verifies it", func(t *testing.T) {
		h := mustProvision(t, p, "restore-ok", stack("shop",
			`test -f {{.Snapshot.Manifest}} && grep -q newest data/seen.txt && echo checked {{.Snapshot.TakenAt}} in {{.Snapshot.Dir}}`), nil)
		st, events := waitState(t, p, h, envs.StackReady)
		if got, want := st.Facts[envs.FactSnapshotName], "shop/20261123T101500Z"; got != want {
			t.Errorf("fact snapshot = %q, want %q", got, want)
		}
		if got, want := st.Facts[envs.FactSnapshotTakenAt], "2026-11-23T10:15:00Z"; got != want {
			t.Errorf("fact snapshot_taken_at = %q, want %q", got, want)
		}
		if _, err := time.Parse(time.RFC3339, st.Facts[envs.FactVerifiedAt]); err != nil {
			t.Errorf("fact verified_at = %q: %v", st.Facts[envs.FactVerifiedAt], err)
		}
		for _, want := range []string{
			"restored snapshot shop/20261123T101500Z (taken 2026-11-23T10:15:00Z)",
			"setup: seed finished",
			"verify passed",
		} {
			if !slices.Contains(events, want) {
				t.Errorf("events = %q, want %q", events, want)
			}
		}
		logs, err := p.Logs(context.Background(), h, "verify", 0)
		wantDir := filepath.Join(cfg.Root, h, "data", "restored")
		if err != nil || logs[0].Text != "checked 2026-11-23T10:15:00Z in "+wantDir+"\n" {
			t.Errorf("verify log = %+v, %v", logs, err)
		}
	})

	t.Run("failed verify fails the stack", func(t *testing.T) {
		h := mustProvision(t, p, "restore-bad", stack("shop", `echo checksum mismatch in orders; exit 1`), nil)
		st := waitFailed(t, p, h)
		if want := "verify failed: sh exited with status 1: checksum mismatch in orders"; st.Reason != want {
			t.Errorf("reason = %q, want %q", st.Reason, want)
		}
	})

	t.Run("a dataset without snapshots fails provisioning", func(t *testing.T) {
		_, err := provision(t, p, "restore-none", stack("nothing-here", "true"), nil)
		if err == nil || !strings.Contains(err.Error(), `dataset "nothing-here" has no snapshot`) {
			t.Fatalf("Provision: err = %v, want no snapshot", err)
		}
	})

	t.Run("a pinned snapshot is restored rather than the latest", func(t *testing.T) {
		const older = "shop/20261101T000000Z"
		if err := p.CheckSnapshot(context.Background(), []byte(stack("shop", "true")), older); err != nil {
			t.Fatalf("CheckSnapshot(%s): %v", older, err)
		}
		h := mustProvisionReq(t, p, envs.ProvisionRequest{EnvironmentID: "restore-pinned", Stack: []byte(stack("shop", "grep -q older data/seen.txt")), Snapshot: older})
		st, events := waitState(t, p, h, envs.StackReady)
		if got := st.Facts[envs.FactSnapshotName]; got != older {
			t.Errorf("fact snapshot = %q, want the pinned %q", got, older)
		}
		if want := "restored the pinned snapshot shop/20261101T000000Z (taken 2026-11-01T00:00:00Z)"; !slices.Contains(events, want) {
			t.Errorf("events = %q, want %q", events, want)
		}
	})

	t.Run("a pinned snapshot that is gone fails, restoring nothing else", func(t *testing.T) {
		const gone = "shop/20250101T000000Z"
		err := p.CheckSnapshot(context.Background(), []byte(stack("shop", "true")), gone)
		var ge *envs.SnapshotGoneError
		if !errors.As(err, &ge) || err.Error() != "snapshot shop/20250101T000000Z of dataset shop is gone; relaunch from the latest instead" {
			t.Fatalf("CheckSnapshot: %v, want it gone", err)
		}
		_, err = provisionReq(t, p, envs.ProvisionRequest{EnvironmentID: "restore-gone", Stack: []byte(stack("shop", "true")), Snapshot: gone})
		if !errors.As(err, &ge) {
			t.Fatalf("Provision: err = %v, want a SnapshotGoneError", err)
		}
		waitNoProcesses(t, "restore-gone")
	})

	t.Run("a pinned name that is no snapshot of the dataset is refused", func(t *testing.T) {
		for _, name := range []string{"other/20261101T000000Z", "shop/../other/x", "shop/.tmp-20261124", "shop"} {
			err := p.CheckSnapshot(context.Background(), []byte(stack("shop", "true")), name)
			if envs.ErrorCode(err) != envs.EInvalid || !strings.Contains(err.Error(), "is not a snapshot of the dataset shop") {
				t.Errorf("CheckSnapshot(%q): %v, want it refused", name, err)
			}
			if _, err := p.PinSnapshot([]byte(stack("shop", "true")), nil, name); envs.ErrorCode(err) != envs.EInvalid {
				t.Errorf("PinSnapshot(%q): %v, want it refused", name, err)
			}
		}
		noRestore := `{"services": [` + serveService("web", "serve") + `]}`
		if err := p.CheckSnapshot(context.Background(), []byte(noRestore), "shop/20261101T000000Z"); err == nil || !strings.Contains(err.Error(), "restores no snapshot") {
			t.Errorf("CheckSnapshot of a stack without restore: %v", err)
		}
		_, err := provisionReq(t, p, envs.ProvisionRequest{EnvironmentID: "restore-nothing", Stack: []byte(noRestore), Snapshot: "shop/20261101T000000Z"})
		if err == nil || !strings.Contains(err.Error(), "restores none") {
			t.Errorf("Provision of a stack without restore, pinned: %v", err)
		}
	})
}

func writeSnapshot(t *testing.T, root, dataset, id, takenAt, content string) {
	t.Helper()
	dir := filepath.Join(root, dataset, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`{"dataset": %q, "id": %q, "taken_at": %q, "checksum": "x"}`, dataset, id, takenAt)
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "content.txt"), []byte(content+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A new Provider on the same Root (a restarted portal) finds the stack,
// reports it and destroys it, though the processes are not its children.
func TestRestartFindsStacks(t *testing.T) {
	cfg := testConfig(t)
	before := newProvider(t, cfg)
	h := mustProvision(t, before, "survivor", `{"services": [`+serveService("web", "serve")+`]}`, nil)
	st, _ := waitState(t, before, h, envs.StackReady)
	pid := getPID(t, st.Outputs["web_url"])

	after := newProvider(t, cfg)
	handles, err := after.Stacks(context.Background())
	if err != nil || !slices.Equal(handles, []string{h}) {
		t.Fatalf("Stacks = %q, %v; want [%s]", handles, err, h)
	}
	st2, err := after.Status(context.Background(), h)
	if err != nil || st2.State != envs.StackReady || st2.Outputs["web_url"] != st.Outputs["web_url"] {
		t.Fatalf("Status = %+v, %v; want ready with the same outputs", st2, err)
	}
	if done, err := after.Destroy(context.Background(), h); err != nil || !done {
		t.Fatalf("Destroy = %v, %v; want true, nil", done, err)
	}
	waitGone(t, pid)
	if _, err := os.Stat(filepath.Join(cfg.Root, h)); !os.IsNotExist(err) {
		t.Errorf("work dir after destroy: stat err = %v, want not exist", err)
	}
}

func TestProvisionIsIdempotent(t *testing.T) {
	p := newProvider(t, testConfig(t))
	stack := `{"services": [` + serveService("web", "serve") + `]}`
	h := mustProvision(t, p, "again", stack, nil)
	st, _ := waitState(t, p, h, envs.StackReady)
	pid := getPID(t, st.Outputs["web_url"])

	t.Run("running stack is kept", func(t *testing.T) {
		h2 := mustProvision(t, p, "again", stack, nil)
		if h2 != h {
			t.Fatalf("handle = %q, want %q", h2, h)
		}
		if got := getPID(t, st.Outputs["web_url"]); got != pid {
			t.Fatalf("pid = %d, want the same process %d", got, pid)
		}
		if again, _ := p.Status(context.Background(), h); again.State != envs.StackReady || len(again.Events) != 0 {
			t.Fatalf("Status = %+v, want ready without new events", again)
		}
	})

	t.Run("stack with dead processes starts over", func(t *testing.T) {
		syscall.Kill(pid, syscall.SIGKILL)
		waitGone(t, pid)
		mustProvision(t, p, "again", stack, nil)
		st2, _ := waitState(t, p, h, envs.StackReady)
		if got := getPID(t, st2.Outputs["web_url"]); got == pid {
			t.Fatalf("pid = %d, want a new process", got)
		}
		if st2.Outputs["web_url"] == st.Outputs["web_url"] {
			t.Errorf("url = %s again, want a port never handed out before", st.Outputs["web_url"])
		}
	})
}

// A portal that dies during setup leaves a setup process behind; the next
// Provider finds it in stack.json and stops it.
func TestRestartDuringSetup(t *testing.T) {
	cfg := testConfig(t)
	before := newProvider(t, cfg)
	errc := make(chan error, 1)
	go func() {
		_, err := before.Provision(context.Background(), envs.ProvisionRequest{
			EnvironmentID: "interrupted",
			Stack: []byte(`{
				"setup": [{"command": ["sh", "-c", "echo $$ > setup.pid; exec sleep 30"]}],
				"services": [{"name": "web", "command": ["sleep", "30"]}]
			}`),
		})
		errc <- err
	}()
	setup := readPID(t, filepath.Join(cfg.Root, "interrupted", "setup.pid"))

	// The old Provider is "dead" from here on: only the new one acts.
	after := newProvider(t, cfg)
	st, err := after.Status(context.Background(), "interrupted")
	if err != nil || st.State != envs.StackFailed || !strings.Contains(st.Reason, "provisioning did not finish") {
		t.Errorf("Status = %+v, %v; want failed: provisioning did not finish", st, err)
	}
	// This Destroy stops the setup process. Unlike a really dead portal,
	// the old Provider then wakes up and records its failure in the work
	// dir, racing with the removal: so only the second Destroy, once the
	// old Provision has returned, must find nothing in its way.
	after.Destroy(context.Background(), "interrupted")
	waitGone(t, setup)
	if err := <-errc; err == nil {
		t.Error("interrupted Provision: got nil error")
	}
	if done, err := after.Destroy(context.Background(), "interrupted"); err != nil || !done {
		t.Fatalf("Destroy = %v, %v; want true, nil", done, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Root, "interrupted")); !os.IsNotExist(err) {
		t.Errorf("work dir after destroy: stat err = %v, want not exist", err)
	}
}

// waitNoProcesses waits until no live process carries the environment id
// the provider gives every process of a stack.
func waitNoProcesses(t *testing.T, envID string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		alive := local.Processes(envID)
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of %s still running: %v", envID, alive)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A portal killed between starting a process and recording it in
// stack.json leaves a process only its environment marks; Destroy finds it.
func TestDestroyKillsUnrecordedProcesses(t *testing.T) {
	p := newProvider(t, testConfig(t))
	h := mustProvision(t, p, "env-stray", `{"services":[{"name":"web","command":["sleep","300"]}]}`, nil)
	stray := exec.Command("sleep", "300")
	stray.Env = []string{"MAYFLY_ENVIRONMENT_ID=" + h}
	stray.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = stray.Wait(); close(exited) }()
	if done, err := p.Destroy(context.Background(), h); err != nil || !done {
		t.Fatalf("Destroy = %v, %v", done, err)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = stray.Process.Kill()
		t.Fatal("a process of the stack that stack.json did not record survived Destroy")
	}
	waitNoProcesses(t, h)
}
