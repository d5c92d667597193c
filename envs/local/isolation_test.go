package local_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/local"
)

// isolatedConfig lays the provider's directories out as the portal does,
// inside a data directory that is hidden from stack processes and holds a
// secret key.
func isolatedConfig(t *testing.T) (cfg local.Config, dataDir, secret string) {
	t.Helper()
	cfg = testConfig(t)
	dataDir = filepath.Join(filepath.Dir(cfg.Root), "data")
	cfg.Root = filepath.Join(dataDir, "stacks")
	cfg.LogsDir = filepath.Join(dataDir, "logs")
	cfg.SnapshotsDir = filepath.Join(dataDir, "snapshots")
	cfg.Hidden = []string{dataDir}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	secret = "9f1c0ffee" + strings.Repeat("5", 20)
	if err := os.WriteFile(filepath.Join(dataDir, "secret.key"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, dataDir, secret
}

// requireSandbox skips where the kernel has no Landlock (CI's has: ABI 7).
func requireSandbox(t *testing.T, p *local.Provider) {
	t.Helper()
	if !p.Isolation().Sandbox {
		t.Skip("this kernel has no Landlock")
	}
}

func TestSandboxPolicy(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data/stacks/env-1", "data2", "other/deeper"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"data/secret.key", "file.txt"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A link into the hidden path, one to the root, and the hidden path
	// itself named through a link.
	for link, target := range map[string]string{"into-data": "data", "to-root": "/", "alias": "."} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	data, work := filepath.Join(root, "data"), filepath.Join(root, "data/stacks/env-1")

	for _, tc := range []struct {
		name    string
		hidden  []string
		want    []string
		notWant []string
	}{
		{
			name:   "hidden data directory",
			hidden: []string{data},
			want: []string{"read " + root + "/data2", "read " + root + "/other", "read " + root + "/file.txt",
				"read /usr", "read /etc", "list /dev", "write /dev/null", "write /dev/shm", "write " + work},
			notWant: []string{"read " + data, "read " + root, "read " + root + "/into-data", "read " + root + "/to-root",
				"read " + root + "/alias", "read /dev", "write /dev", "write /tmp", "read /tmp"},
		},
		{
			name:    "nothing hidden",
			want:    []string{"read /usr", "write /tmp", "write " + work},
			notWant: []string{"read /dev"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := local.SandboxPolicy(tc.hidden, work)
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("policy lacks %q", w)
				}
			}
			for _, nw := range tc.notWant {
				if slices.Contains(got, nw) {
					t.Errorf("policy has %q", nw)
				}
			}
			for _, g := range got {
				if _, path, _ := strings.Cut(g, " "); strings.HasPrefix(path+"/", data+"/") && path != work {
					t.Errorf("policy grants %q inside the hidden path", g)
				}
			}
		})
	}
}

// A sandboxed stack reads and writes its work dir and runs programs, but
// cannot read the hidden data directory or the portal's memory, nor signal
// the portal. (Landlock lets it read the portal's /proc/<pid>/environ and
// cmdline, so the portal keeps its secrets out of those: cmd/mayfly's
// TestStacksCannotReadPortalSecrets.)
func TestSandboxHidesThePortal(t *testing.T) {
	cfg, dataDir, secret := isolatedConfig(t)
	t.Setenv("LOCAL_TEST_PORTAL_SECRET", "portal-env-"+secret)
	p := newProvider(t, cfg)
	requireSandbox(t, p)
	script := `echo own > own.txt && cat own.txt; echo tmp > "$TMPDIR/t" && cat "$TMPDIR/t"
cat ` + dataDir + `/secret.key || echo key-refused
cat ../../secret.key || echo relative-refused
ls ` + dataDir + ` || echo list-refused
(exec 3< /proc/$PPID/mem) && echo mem-opened || echo mem-refused
(exec 3< /proc/$PPID/fd/0) 2>/dev/null; echo fd-tried
kill -0 $PPID || echo signal-refused
ls /dev/null >/dev/null && echo devnull-ok
grep -E '^Cap(Eff|Prm|Bnd):' /proc/self/status
echo done`
	h := mustProvision(t, p, "sandboxed", `{
		"setup": [{"command": ["sh", "-c", `+jsonString(script)+`]}],
		"services": [`+serveService("web", "serve")+`]
	}`, nil)
	st, _ := waitState(t, p, h, envs.StackReady)
	get(t, st.Outputs["web_url"]+"healthz") // a sandboxed service serves

	logs, err := p.Logs(context.Background(), h, "setup", 0)
	if err != nil {
		t.Fatal(err)
	}
	out := logs[0].Text
	// No capabilities, also when the portal runs as root (as CI does):
	// they would let a stack step around the filesystem policy.
	for _, want := range []string{"own\ntmp\n", "key-refused", "relative-refused", "list-refused", "mem-refused", "devnull-ok",
		"CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "done"} {
		if !strings.Contains(out, want) {
			t.Errorf("setup log lacks %q:\n%s", want, out)
		}
	}
	if p.Isolation().Scoped && !strings.Contains(out, "signal-refused") {
		t.Errorf("a stack process signalled the portal:\n%s", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("a stack process read the secret:\n%s", out)
	}
}

// The sandbox restricts the thread that starts a stack process, and that
// thread is thrown away: the portal itself keeps reading its data
// directory from every goroutine, and none of its threads keeps
// no_new_privs (set with the restriction).
func TestSandboxLeavesThePortalAlone(t *testing.T) {
	if threadsWithNoNewPrivs(t) > 0 {
		t.Skip("this test process already runs with no_new_privs")
	}
	cfg, dataDir, secret := isolatedConfig(t)
	p := newProvider(t, cfg)
	requireSandbox(t, p)
	for i := range 4 {
		h := mustProvision(t, p, fmt.Sprintf("threads-%d", i), `{
			"setup": [{"command": ["true"]}],
			"services": [{"name": "web", "command": ["sleep", "300"]}, {"name": "api", "command": ["sleep", "300"]}]
		}`, nil)
		waitState(t, p, h, envs.StackReady)
	}
	deadline := time.Now().Add(5 * time.Second)
	for threadsWithNoNewPrivs(t) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d threads of the portal are still restricted", threadsWithNoNewPrivs(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Each goroutine on a thread of its own, all at once: a restricted
	// thread left in the pool would be one of them.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	release := make(chan struct{})
	for range 32 {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			<-release
			b, err := os.ReadFile(filepath.Join(dataDir, "secret.key"))
			werr := os.WriteFile(filepath.Join(dataDir, fmt.Sprintf("probe-%d", syscall.Gettid())), nil, 0o600)
			if err != nil || !bytes.Contains(b, []byte(secret)) || werr != nil {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("read: %v, write: %v", err, werr))
				mu.Unlock()
			}
		})
	}
	close(release)
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("the portal lost access to its data directory on %d threads: %v", len(failures), failures[0])
	}
}

// threadsWithNoNewPrivs counts the threads of this process with
// no_new_privs set (NoNewPrivs in /proc/self/task/*/status).
func threadsWithNoNewPrivs(t *testing.T) int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", task.Name(), "status"))
		if err == nil && bytes.Contains(b, []byte("NoNewPrivs:\t1")) {
			n++
		}
	}
	return n
}

// With the sandbox off, stack processes run as before: nothing keeps them
// from the data directory.
func TestSandboxOff(t *testing.T) {
	cfg, dataDir, secret := isolatedConfig(t)
	cfg.Sandbox = local.SandboxOff
	p := newProvider(t, cfg)
	if p.Isolation().Sandbox {
		t.Fatal("Isolation().Sandbox = true with the sandbox off")
	}
	h := mustProvision(t, p, "unsandboxed", `{
		"setup": [{"command": ["cat", "`+dataDir+`/secret.key"]}],
		"services": [{"name": "web", "command": ["sleep", "300"]}]
	}`, nil)
	waitState(t, p, h, envs.StackReady)
	if logs, err := p.Logs(context.Background(), h, "setup", 0); err != nil || !strings.Contains(logs[0].Text, secret) {
		t.Errorf("setup log = %+v, %v; want the file read", logs, err)
	}
}

func TestSandboxSettingIsChecked(t *testing.T) {
	cfg := testConfig(t)
	cfg.Sandbox = "maybe"
	if _, err := local.New(cfg); err == nil || !strings.Contains(err.Error(), `Sandbox "maybe"`) {
		t.Errorf("New with Sandbox maybe: err = %v, want it refused", err)
	}
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
