package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/local"
)

// escapeStack's service leaves a process that left its process group and
// session and dropped the environment marker, as a daemon does.
const escapeStack = `{"services": [{"name": "web",
	"command": ["sh", "-c", "setsid env -i sleep 300 & echo $! > escaped.pid; exec sleep 300"]}]}`

// Destroy stops what left the stack's process group: with a cgroup (the
// default where the portal may create one) and, forced off, through the
// recorded processes' descendants; from the provider that started the
// stack and from a restarted one.
func TestDestroyStopsProcessesThatLeftTheGroup(t *testing.T) {
	for _, cgroups := range []string{"auto", "off"} {
		for _, restart := range []bool{false, true} {
			t.Run(fmt.Sprintf("cgroups %s restart %v", cgroups, restart), func(t *testing.T) {
				cfg := testConfig(t)
				cfg.Cgroups = cgroups
				p := newProvider(t, cfg)
				if cgroups == "auto" && p.Isolation().Cgroups == "" {
					t.Skip("no writable cgroup v2 here")
				}
				h := mustProvision(t, p, "escape", escapeStack, nil)
				waitState(t, p, h, envs.StackReady)
				escaped := readPID(t, filepath.Join(cfg.Root, h, "escaped.pid"))
				waitExec(t, escaped, "sleep\x00300\x00")
				if env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", escaped)); strings.Contains(string(env), "MAYFLY_ENVIRONMENT_ID") {
					t.Fatalf("the escaped process still carries the marker")
				}
				st := readState(t, cfg.Root, h)
				if cgroups == "auto" && !strings.HasSuffix(st.Cgroup, "-"+h) {
					t.Errorf("stack.json cgroup = %q, want the stack's", st.Cgroup)
				}
				if restart {
					p = newProvider(t, cfg)
				}
				if done, err := p.Destroy(context.Background(), h); err != nil || !done {
					t.Fatalf("Destroy = %v, %v", done, err)
				}
				waitGone(t, escaped)
				if st.Cgroup != "" {
					if _, err := os.Stat(st.Cgroup); !os.IsNotExist(err) {
						t.Errorf("cgroup %s after destroy: %v, want it removed", st.Cgroup, err)
					}
				}
			})
		}
	}
}

// A setup command must leave nothing running: with a cgroup, not even a
// process that left its group (whose parent, the command, is gone).
func TestSetupLeavesNothingBehind(t *testing.T) {
	cfg := testConfig(t)
	p := newProvider(t, cfg)
	if p.Isolation().Cgroups == "" {
		t.Skip("no writable cgroup v2 here")
	}
	h := mustProvision(t, p, "daemonizes", `{
		"setup": [{"command": ["sh", "-c", "setsid env -i sleep 300 & echo $! > daemon.pid"]}],
		"services": [{"name": "web", "command": ["sleep", "300"]}]
	}`, nil)
	waitState(t, p, h, envs.StackReady)
	waitGone(t, readPID(t, filepath.Join(cfg.Root, h, "daemon.pid")))
}

// A stack.json that names a cgroup other than its stack's (the stack's
// processes may write their work dir) does not make Destroy kill it.
func TestDestroyIgnoresAForeignCgroup(t *testing.T) {
	cfg := testConfig(t)
	p := newProvider(t, cfg)
	iso := p.Isolation()
	if iso.Cgroups == "" {
		t.Skip("no writable cgroup v2 here")
	}
	victim := filepath.Join(iso.Cgroups, "victim-of-a-forged-stack-json")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(victim) })
	h := mustProvision(t, p, "forger", `{"services": [{"name": "web", "command": ["sleep", "300"]}]}`, nil)
	waitState(t, p, h, envs.StackReady)
	path := filepath.Join(cfg.Root, h, "stack.json")
	b, _ := os.ReadFile(path)
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	raw["cgroup"] = victim
	b, _ = json.Marshal(raw)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if done, err := p.Destroy(context.Background(), h); err != nil || !done {
		t.Fatalf("Destroy = %v, %v", done, err)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("the cgroup a forged stack.json named is gone: %v", err)
	}
}

// waitExec waits until pid runs the command line cmdline (its shell has
// exec'd through setsid and env).
func waitExec(t *testing.T, pid int, cmdline string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); string(b) == cmdline {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d never ran %q", pid, cmdline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type stateFile struct {
	Cgroup string          `json:"cgroup"`
	Sealed []byte          `json:"sealed"`
	Verify json.RawMessage `json:"verify"`
	// Kept in clear by older versions, sealed now.
	Reason  string          `json:"reason"`
	Outputs json.RawMessage `json:"outputs"`
	Events  json.RawMessage `json:"pending_events"`
}

func readState(t *testing.T, root, handle string) stateFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, handle, "stack.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func testSealer(t *testing.T, key byte) local.Sealer {
	t.Helper()
	c, err := envs.NewCipher([]byte(strings.Repeat(string(rune(key)), 32)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stack.json keeps the verify commands sealed: a secret parameter they use
// is not in the file, and a restarted provider with the same key still
// runs them; one with another key fails the stack, saying why.
func TestVerifyCommandsAreSealed(t *testing.T) {
	const secret = "s3cr3t-verify-token"
	stack := `{
		"services": [{"name": "web", "command": ["sleep", "300"]}],
		"verify": [{"name": "check", "command": ["sh", "-c", "test \"$MAYFLY_PARAM_TOKEN\" = '{{.Params.token}}' && echo token matches"]}]
	}`
	for _, tc := range []struct {
		name   string
		key    byte
		reason string
	}{
		{"same key after a restart", 'k', ""},
		{"another key after a restart", 'x', "verify failed: cannot open the sealed part of stack.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Sealer = testSealer(t, 'k')
			before := newProvider(t, cfg)
			h := mustProvision(t, before, "sealed", stack, map[string]string{"token": secret})
			b, _ := os.ReadFile(filepath.Join(cfg.Root, h, "stack.json"))
			if strings.Contains(string(b), secret) {
				t.Fatalf("stack.json holds the secret in clear:\n%s", b)
			}
			if st := readState(t, cfg.Root, h); len(st.Sealed) == 0 || st.Verify != nil {
				t.Fatalf("stack.json: sealed %d bytes, verify %s; want only the sealed form", len(st.Sealed), st.Verify)
			}
			cfg.Sealer = testSealer(t, tc.key)
			after := newProvider(t, cfg)
			if tc.reason == "" {
				waitState(t, after, h, envs.StackReady)
				logs, err := after.Logs(context.Background(), h, "verify", 0)
				if err != nil || !strings.Contains(logs[0].Text, "token matches") {
					t.Errorf("verify log = %+v, %v", logs, err)
				}
				return
			}
			st := waitFailed(t, after, h)
			if !strings.HasPrefix(st.Reason, tc.reason) {
				t.Errorf("reason = %q, want %q...", st.Reason, tc.reason)
			}
		})
	}
}

// Nothing stack.json holds in clear quotes a parameter: outputs rendered
// from one, a timeline label made of a command line, a failed command's
// output in the reason are all in its sealed part, and come back from it.
func TestStackJSONQuotesNoParameter(t *testing.T) {
	const secret = "s3cr3t-stack-token"
	cfg := testConfig(t)
	cfg.Sealer = testSealer(t, 'k')
	p := newProvider(t, cfg)
	assertNoSecret := func(h string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(cfg.Root, h, "stack.json"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), secret) {
			t.Fatalf("stack.json quotes the parameter:\n%s", b)
		}
		if st := readState(t, cfg.Root, h); st.Reason != "" || st.Outputs != nil || st.Events != nil {
			t.Fatalf("stack.json keeps reason %q, outputs %s, events %s in clear", st.Reason, st.Outputs, st.Events)
		}
	}

	ready := mustProvision(t, p, "quotes-ready", `{
		"setup": [{"command": ["echo", "{{.Params.token}}"]}],
		"services": [{"name": "web", "command": ["sleep", "300"], "outputs": {"url": "http://127.0.0.1:{{.Port}}/?t={{.Params.token}}"}}]
	}`, map[string]string{"token": secret})
	assertNoSecret(ready) // the setup's event is still pending
	st, events := waitState(t, p, ready, envs.StackReady)
	if !strings.Contains(st.Outputs["url"], secret) || !slices.ContainsFunc(events, func(m string) bool { return strings.Contains(m, "echo "+secret) }) {
		t.Errorf("the sealed outputs and events did not come back: %v, %q", st.Outputs, events)
	}
	assertNoSecret(ready)

	const failed = "quotes-failed"
	if _, err := provision(t, p, failed, `{
		"setup": [{"command": ["sh", "-c", "echo token is {{.Params.token}}; exit 3"]}],
		"services": [{"name": "web", "command": ["sleep", "300"]}]
	}`, map[string]string{"token": secret}); err == nil {
		t.Fatal("a setup command that exits 3 did not fail the provision")
	}
	assertNoSecret(failed)
	if st := waitFailed(t, newProvider(t, cfg), failed); !strings.Contains(st.Reason, "token is "+secret) {
		t.Errorf("after a restart the reason is %q, want the command's output", st.Reason)
	}
	assertNoSecret(failed)
}
