package local_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/local"
)

// driftOf runs a drift check and returns its items as "resource type
// STATUS: detail" lines.
func driftOf(t *testing.T, p *local.Provider, h string) []string {
	t.Helper()
	rep, err := p.DetectDrift(context.Background(), envs.DriftRequest{Handle: h})
	if err != nil {
		t.Fatalf("DetectDrift: %v", err)
	}
	var out []string
	for _, it := range rep.Items {
		out = append(out, fmt.Sprintf("%s %s %s: %s", it.Resource, it.Type, it.Status, it.Detail))
	}
	return out
}

// TestDriftOfALocalStack changes a ready stack by hand the ways people do
// (a declared file edited, deleted and added, a service killed, its port
// taken by another program) and checks that each drift check reports
// exactly what differs from the stack as it was when ready.
func TestDriftOfALocalStack(t *testing.T) {
	cfg := testConfig(t)
	p := newProvider(t, cfg)
	stack := `{
		"setup": [{"command": ["sh", "-c", "mkdir -p config data && echo 'greeting: hello' > config/app.yaml && echo a > data/a.sql && echo b > data/b.sql && echo scratch > data/notes.txt"]}],
		"services": [` + serveService("web", "serve") + `, ` + serveService("api", "serve") + `],
		"drift": {"files": ["config/app.yaml", "data/*.sql"]}
	}`
	h := mustProvision(t, p, "env-drift", stack, nil)
	st, _ := waitState(t, p, h, envs.StackReady)
	dir := filepath.Join(cfg.Root, h)

	if got := driftOf(t, p, h); len(got) != 0 {
		t.Fatalf("a stack just ready drifted: %q", got)
	}
	// The baseline is sealed: the stack's processes, which may write
	// stack.json, cannot forge the checksums it holds.
	if b, err := os.ReadFile(filepath.Join(dir, "stack.json")); err != nil || strings.Contains(string(b), "sha256") {
		t.Errorf("stack.json holds the checksums in clear (%v)", err)
	}

	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(what string, want ...string) {
		t.Helper()
		got := driftOf(t, p, h)
		if len(got) != len(want) {
			t.Fatalf("%s: drift %q, want %d items like %q", what, got, len(want), want)
		}
		for i := range want {
			if !strings.Contains(got[i], want[i]) {
				t.Errorf("%s: item %d is %q, want it to contain %q", what, i, got[i], want[i])
			}
		}
	}

	write("config/app.yaml", "greeting: hacked\n")
	write("data/notes.txt", "not declared: changes freely\n")
	expect("a declared file edited", "config/app.yaml file MODIFIED: changed since the stack was ready")
	rep, _ := p.DetectDrift(context.Background(), envs.DriftRequest{Handle: h})
	if d := rep.Items[0].Differences; len(d) != 1 || !strings.HasPrefix(d[0].Expected, "sha256:") || d[0].Expected == d[0].Actual {
		t.Errorf("differences %+v, want the expected and actual checksums", d)
	}

	write("config/app.yaml", "greeting: hello\n")
	expect("the file put back as it was")

	if err := os.Remove(filepath.Join(dir, "data/b.sql")); err != nil {
		t.Fatal(err)
	}
	write("data/c.sql", "c\n")
	expect("a declared file deleted, another added",
		"data/b.sql file DELETED", "data/c.sql file ADDED")
	os.Remove(filepath.Join(dir, "data/c.sql"))
	write("data/b.sql", "b\n")
	expect("put back")

	// A link is recorded as a link, never followed out of the work dir.
	os.Remove(filepath.Join(dir, "data/b.sql"))
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "data/b.sql")); err != nil {
		t.Fatal(err)
	}
	expect("a file replaced by a link out of the work dir", "data/b.sql file MODIFIED")
	rep, _ = p.DetectDrift(context.Background(), envs.DriftRequest{Handle: h})
	if d := rep.Items[0].Differences; len(d) != 1 || d[0].Actual != "link to /etc/passwd" {
		t.Errorf("differences %+v, want the link's target as what is there", d)
	}
	os.Remove(filepath.Join(dir, "data/b.sql"))
	write("data/b.sql", "b\n")

	// A killed service: its process is gone and nothing listens on its
	// port (one item, not two for one cause).
	api := st.Outputs["api_url"]
	pid := getPID(t, api)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	port := strings.TrimSuffix(strings.TrimPrefix(api, "http://127.0.0.1:"), "/")
	expect("a service killed", "api service DELETED: its process is gone (was killed by signal killed) and nothing listens on 127.0.0.1:"+port)

	// Another program takes the port.
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	expect("its port taken",
		"api service DELETED: its process is gone (was killed by signal killed)",
		fmt.Sprintf("api port MODIFIED: 127.0.0.1:%s is held by pid %d", port, os.Getpid()))

	// Destroyed outside Mayfly: the whole stack is gone.
	if _, err := p.Destroy(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	expect("the stack removed", "env-drift stack DELETED: its work directory is gone")
}
