package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/storage/storagetest"
)

func isolationCatalog(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("testdata/isolation-catalog")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// A stack process of a real portal (this binary run as "serve", with
// secrets in its environment and on its command line) tries the portal's
// /proc files, its secret key and database: it finds none of the secrets.
func TestStacksCannotReadPortalSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real portal process")
	}
	dataDir, dbURL := t.TempDir(), storagetest.URL(t)
	dbArg := dbURL
	if dbArg == "" {
		dbArg = "sqlite://" + filepath.Join(dataDir, "mayfly.db")
	}
	secrets := map[string]string{
		"MAYFLY_SECRET_KEY":          strings.Repeat("c4", 32),
		"MAYFLY_SECRET_KEY_PREVIOUS": strings.Repeat("d5", 32),
		"AWS_SECRET_ACCESS_KEY":      "aws-secret-Zq8vJ2Lw",
		"AWS_SESSION_TOKEN":          "aws-session-Kx3pT7Yu",
	}
	for k, v := range secrets {
		t.Setenv(k, v) // the portal process inherits them
	}
	// Not read while MAYFLY_SECRET_KEY is set, but in the data directory.
	fileKey := strings.Repeat("e6", 32)
	if err := os.WriteFile(filepath.Join(dataDir, "secret.key"), []byte(fileKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startPortal(t, dataDir, dbURL, freeAddr(t), "--catalog-dir", isolationCatalog(t), "--database-url", dbArg)
	defer p.kill()
	s := p.server()
	e := s.launch(map[string]any{"template": "peek"})
	s.waitStatus(e.ID, "ready", 30*time.Second)
	r := s.api("GET", "/api/v1/environments/"+e.ID+"/logs?service=setup", nil)
	if r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte("peeked")) {
		t.Fatalf("setup log: %d %s", r.Status, r.Body)
	}
	out := string(r.Body)
	for _, want := range []string{"environ:", "cmdline:", "Permission denied"} {
		if !strings.Contains(out, want) {
			t.Errorf("setup log lacks %q: %s", want, out)
		}
	}
	if strings.Contains(out, "SQLite format") {
		t.Errorf("a stack process read the database: %s", out)
	}
	secrets["secret.key"] = fileKey
	secrets["--database-url"] = dbArg
	for name, v := range secrets {
		if strings.Contains(out, v) {
			t.Errorf("a stack process read %s: %s", name, out)
		}
	}
	s.destroyClean(e.ID)
}

// A service that leaves its process group, session and environment
// marker (as a daemon does) is stopped when its environment is destroyed.
func TestDestroyStopsProcessesThatLeftTheirGroup(t *testing.T) {
	s := startMain(t, isolationCatalog(t))
	e := s.launch(map[string]any{"template": "escape"})
	s.waitStatus(e.ID, "ready", 30*time.Second)
	escaped := readPIDFile(t, filepath.Join(s.Config.DataDir, "stacks", e.ID, "escaped.pid"))
	s.destroyClean(e.ID)
	deadline := time.Now().Add(5 * time.Second)
	for processRuns(escaped) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d, which left its stack's group, survived the destroy", escaped)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readPIDFile(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(path)
		var pid int
		if _, serr := fmt.Sscan(string(b), &pid); err == nil && serr == nil && pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %s: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processRuns reports whether pid exists and is not a zombie.
func processRuns(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// A secret parameter that a verify step uses is in no file Mayfly writes
// in the data directory, and the verify step still runs when it comes
// after a restart of the portal.
func TestVerifySecretIsSealedAcrossRestart(t *testing.T) {
	dataDir, dbURL := t.TempDir(), storagetest.URL(t)
	cfg, err := ParseConfig([]string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn",
		"--database-url", dbURL, "--catalog-dir", isolationCatalog(t)}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	const token = "tok-7Hq2Wz9Rx4"
	first := NewMain(cfg)
	if err := first.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := &testServer{Main: first, t: t, url: first.URL()}
	e := s.launch(map[string]any{"template": "sealed-verify", "params": map[string]any{"token": token}})
	work := filepath.Join(dataDir, "stacks", e.ID)
	deadline := time.Now().Add(30 * time.Second)
	for b, _ := os.ReadFile(filepath.Join(work, "stack.json")); !bytes.Contains(b, []byte(`"phase": "started"`)); b, _ = os.ReadFile(filepath.Join(work, "stack.json")) {
		if time.Now().After(deadline) {
			t.Fatalf("the stack's services did not start: %s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	assertNoFileHolds(t, dataDir, token)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// The service becomes healthy only now, so verify runs in the next portal.
	if err := os.WriteFile(filepath.Join(work, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s = runTestMain(t, cfg)
	s.waitStatus(e.ID, "ready", 60*time.Second)
	r := s.api("GET", "/api/v1/environments/"+e.ID+"/logs?service=verify", nil)
	if r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte("token-ok")) {
		t.Fatalf("verify log: %d %s", r.Status, r.Body)
	}
	assertNoFileHolds(t, dataDir, token)
	s.destroyClean(e.ID)
}

// assertNoFileHolds fails if a file under dir holds secret in clear.
func assertNoFileHolds(t *testing.T, dir, secret string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking (a temp file)
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the secret in clear", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSecretRangesInArgsAndEnvironment(t *testing.T) {
	block := func(entries ...string) []byte { return []byte(strings.Join(entries, "\x00") + "\x00") }
	for _, tc := range []struct {
		name string
		in   []byte
		env  bool
		want string
	}{
		{"flag and value", block("mayfly", "serve", "--oidc-client-secret", "hunter2", "--addr", "x"), false,
			"mayfly\x00serve\x00--oidc-client-secret\x00*******\x00--addr\x00x\x00"},
		{"flag=value, one dash", block("-database-url=postgres://u:pw@h/db", "--data-dir", "d"), false,
			"-database-url=" + strings.Repeat("*", len("postgres://u:pw@h/db")) + "\x00--data-dir\x00d\x00"},
		{"other flags untouched", block("--oidc-client-id", "mayfly", "--database-url="), false,
			"--oidc-client-id\x00mayfly\x00--database-url=\x00"},
		{"environment", block("HOME=/root", "MAYFLY_SECRET_KEY=abcd", "AWS_SESSION_TOKEN=t0k", "MAYFLY_SECRET_KEYX=keep"), true,
			"HOME=/root\x00MAYFLY_SECRET_KEY=****\x00AWS_SESSION_TOKEN=***\x00MAYFLY_SECRET_KEYX=keep\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ranges := argSecretRanges(tc.in)
			if tc.env {
				ranges = envSecretRanges(tc.in)
			}
			mask(tc.in, ranges)
			if got := string(tc.in); got != tc.want {
				t.Errorf("masked = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLocalSandboxSetting(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr string
	}{
		{name: "default", want: "auto"},
		{name: "variable", env: map[string]string{"MAYFLY_LOCAL_SANDBOX": "off"}, want: "off"},
		{name: "flag wins", args: []string{"--local-sandbox", "on"}, env: map[string]string{"MAYFLY_LOCAL_SANDBOX": "off"}, want: "on"},
		{name: "refused", args: []string{"--local-sandbox", "maybe"}, wantErr: `--local-sandbox "maybe": must be auto, on or off`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig(append([]string{"--data-dir", t.TempDir()}, tc.args...), func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || cfg.LocalSandbox != tc.want {
				t.Fatalf("LocalSandbox = %q, %v; want %q", cfg.LocalSandbox, err, tc.want)
			}
		})
	}
}
