package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// mayflyCLI runs the command line client as its own process (this test
// binary stands in for mayfly, see TestMain) against s, and returns its
// exit code, stdout and stderr.
func mayflyCLI(t *testing.T, s *testServer, args ...string) (int, string, string) {
	t.Helper()
	return mayflyCLIToken(t, s, "", args...)
}

// mayflyCLIToken is mayflyCLI with MAYFLY_TOKEN set to token.
func mayflyCLIToken(t *testing.T, s *testServer, token string, args ...string) (int, string, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "MAYFLY_URL="+s.url, "MAYFLY_TOKEN="+token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("mayfly %s: %v", strings.Join(args, " "), err)
	}
	return code, stdout.String(), stderr.String()
}

func TestCLI(t *testing.T) {
	s := startMain(t, testCatalog(t))

	t.Run("launch --wait answers ready, as JSON with typed params", func(t *testing.T) {
		code, out, errOut := mayflyCLI(t, s, "env", "launch", "slow-setup", "--param", "setup_seconds=1", "--name", "cli-one",
			"--ttl", "30m", "--wait", "--timeout", "2m", "--output", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s %s", code, out, errOut)
		}
		var e envJSON
		if err := json.Unmarshal([]byte(out), &e); err != nil {
			t.Fatalf("stdout is not one environment as JSON: %v\n%s", err, out)
		}
		if e.Name != "cli-one" || e.Status != "ready" || e.Params["setup_seconds"] != float64(1) || e.Outputs["url"] == "" {
			t.Errorf("got %+v, want cli-one ready with setup_seconds 1 and a url", e)
		}
	})

	t.Run("get and list show tables, by name", func(t *testing.T) {
		code, out, errOut := mayflyCLI(t, s, "env", "get", "cli-one")
		if code != 0 || !strings.Contains(out, "ready") || !strings.Contains(out, "param setup_seconds") {
			t.Errorf("get: exit %d:\n%s%s", code, out, errOut)
		}
		code, out, _ = mayflyCLI(t, s, "env", "list", "--template", "slow-setup")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[1], "cli-one") {
			t.Errorf("list: exit %d:\n%s", code, out)
		}
	})

	t.Run("extend and logs", func(t *testing.T) {
		if code, out, errOut := mayflyCLI(t, s, "env", "extend", "cli-one", "--ttl", "10m"); code != 0 {
			t.Errorf("extend: exit %d: %s%s", code, out, errOut)
		}
		if code, out, errOut := mayflyCLI(t, s, "env", "logs", "cli-one"); code != 0 || !strings.Contains(out, "==> web <==") {
			t.Errorf("logs: exit %d: %s%s", code, out, errOut)
		}
	})

	t.Run("a failed launch exits 1 with the reason", func(t *testing.T) {
		code, out, errOut := mayflyCLI(t, s, "env", "launch", "never-healthy", "--wait")
		if code != 1 || !strings.Contains(errOut, "did not become ready: failed: ") {
			t.Errorf("exit %d, stderr %q (stdout %q); want 1 and the failure reason", code, errOut, out)
		}
	})

	t.Run("a refused launch exits 1 naming the field", func(t *testing.T) {
		code, _, errOut := mayflyCLI(t, s, "env", "launch", "slow-setup", "--param", "setup_seconds=999")
		if code != 1 || !strings.Contains(errOut, "setup_seconds") || !strings.Contains(errOut, "HTTP 422") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})

	t.Run("wrong usage exits 2", func(t *testing.T) {
		for _, args := range [][]string{{"env", "launch"}, {"env", "frobnicate"}, {"env", "list", "--output", "yaml"}, {"env", "launch", "x", "--param", "novalue"}} {
			if code, _, errOut := mayflyCLI(t, s, args...); code != 2 || errOut == "" {
				t.Errorf("mayfly %s: exit %d, stderr %q; want 2 and a reason", strings.Join(args, " "), code, errOut)
			}
		}
		if code, out, _ := mayflyCLI(t, s, "env", "help"); code != 0 || !strings.Contains(out, "launch TEMPLATE") {
			t.Errorf("env help: exit %d: %s", code, out)
		}
	})

	t.Run("events --follow ends when the environment is destroyed", func(t *testing.T) {
		exe, _ := os.Executable()
		cmd := exec.Command(exe, "env", "events", "cli-one", "--follow", "--output", "json")
		cmd.Env = append(os.Environ(), "MAYFLY_URL="+s.url)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		var statuses []string
		destroyed := false
		for sc.Scan() {
			var ev struct{ Status, Message string }
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("line %q is not an event: %v", sc.Text(), err)
			}
			statuses = append(statuses, ev.Status)
			// Destroy once the history is out: what follows comes live.
			if ev.Status == "ready" && !destroyed {
				destroyed = true
				if code, out, errOut := mayflyCLI(t, s, "env", "destroy", "cli-one"); code != 0 {
					t.Fatalf("destroy: exit %d: %s%s", code, out, errOut)
				}
			}
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("events --follow: %v", err)
		}
		if len(statuses) == 0 || statuses[len(statuses)-1] != "destroyed" {
			t.Errorf("statuses %v, want them to end with destroyed", statuses)
		}
	})

	t.Run("template publish", func(t *testing.T) {
		f := t.TempDir() + "/t.yaml"
		if err := os.WriteFile(f, []byte(publishedTemplate), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := mayflyCLI(t, s, "template", "publish", f)
		if code != 0 || !strings.HasPrefix(out, "published ") {
			t.Errorf("publish: exit %d: %s%s", code, out, errOut)
		}
		if code, _, errOut := mayflyCLI(t, s, "template", "publish", f+".missing"); code != 1 || !strings.Contains(errOut, "no such file") {
			t.Errorf("missing file: exit %d: %s", code, errOut)
		}
	})
}
