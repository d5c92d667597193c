package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
)

// syncBuffer collects log lines written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const secretTemplate = `name: vault
version: 1.0.0
kind: demo
description: Two secrets.
owner: tests
provider: local
ttl: {default: 1h, max: 2h}
parameters:
  - name: password
    type: string
    secret: true
    required: true
  - name: pin
    type: string
    secret: true
    min: 8
stack:
  services:
    - name: web
      command: ["sleep", "300"]
`

// TestSecretsNeverInLogsOrErrors launches with secret parameters, with every
// log line at debug level captured, then looks for the values in the logs,
// the timeline, the audit log, error answers and the database.
func TestSecretsNeverInLogsOrErrors(t *testing.T) {
	dataDir := t.TempDir()
	cfg, err := ParseConfig([]string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "debug"},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	m := NewMain(cfg)
	m.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := &testServer{Main: m, t: t, url: m.URL()}
	t.Cleanup(func() { m.Close(); s.destroyAll() })
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(secretTemplate)); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	const secret, badPin, pin = "tr0ub4dor-and-3", "9876-5x", "4242-4242-77"
	var answers []string
	// A refused launch: the error names the field but not the value.
	r := s.api("POST", "/api/v1/environments", map[string]any{"template": "vault", "params": map[string]any{"password": secret, "pin": badPin}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "params.pin") {
		t.Fatalf("bad pin: %d %s", r.Status, r.Body)
	}
	answers = append(answers, string(r.Body))
	e := s.launch(map[string]any{"template": "vault", "params": map[string]any{"password": secret, "pin": pin}})
	s.waitStatus(e.ID, "ready", 20*time.Second)
	for _, path := range []string{"/api/v1/environments/" + e.ID, "/api/v1/environments/" + e.ID + "/events", "/api/v1/audit", "/environments/" + e.ID, "/admin/audit"} {
		answers = append(answers, string(s.do("GET", path, "", nil).Body))
	}
	if r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
		t.Fatalf("destroy: %d", r.Status)
	}
	s.waitStatus(e.ID, "destroyed", 20*time.Second)
	m.Close()

	db, _ := os.ReadFile(filepath.Join(dataDir, "mayfly.db"))
	wal, _ := os.ReadFile(filepath.Join(dataDir, "mayfly.db-wal"))
	places := map[string]string{"logs": logs.String(), "database": string(db) + string(wal)}
	for i, a := range answers {
		places["answer "+string(rune('a'+i))] = a
	}
	if !strings.Contains(logs.String(), e.ID) {
		t.Fatal("the captured logs do not mention the environment: the logger was not captured")
	}
	for where, text := range places {
		for _, v := range []string{secret, badPin, pin} {
			if strings.Contains(text, v) {
				t.Errorf("%s holds the secret %q", where, v)
			}
		}
	}
}

// TestSecretKeyRotation starts with one key, rotates to another keeping the
// first as a previous key (secrets are re-encrypted at start), then runs
// with the new key alone.
func TestSecretKeyRotation(t *testing.T) {
	dataDir := t.TempDir()
	keyA, keyB := strings.Repeat("a1", 32), strings.Repeat("b2", 32)
	start := func(env map[string]string) *testServer {
		t.Helper()
		cfg, err := ParseConfig([]string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "error"},
			func(k string) string { return env[k] }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		m := NewMain(cfg)
		if err := m.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return &testServer{Main: m, t: t, url: m.URL()}
	}
	s := start(map[string]string{"MAYFLY_SECRET_KEY": keyA})
	if _, _, err := s.Service.Publish(context.Background(), envs.System, []byte(publishedTemplate)); err != nil {
		t.Fatal(err)
	}
	e := s.launch(map[string]any{"template": "tiny", "params": map[string]any{"password": "pw"}, "ttl": "1h"})
	s.Close()
	s.destroyAll()

	s = start(map[string]string{"MAYFLY_SECRET_KEY": keyB})
	if _, err := s.Service.ResealSecrets(context.Background()); err == nil {
		t.Error("the new key alone opened secrets sealed with the old one")
	}
	s.Close()
	s.destroyAll()

	s = start(map[string]string{"MAYFLY_SECRET_KEY": keyB, "MAYFLY_SECRET_KEY_PREVIOUS": keyA})
	s.Close()
	s.destroyAll()

	s = start(map[string]string{"MAYFLY_SECRET_KEY": keyB})
	defer func() { s.Close(); s.destroyAll() }()
	n, err := s.Service.ResealSecrets(context.Background())
	if err != nil || n != 0 {
		t.Errorf("after rotation with the new key alone: resealed %d, err %v; want 0, nil (all sealed with the new key)", n, err)
	}
	if got := s.env(e.ID); len(got.SecretParams) != 1 {
		t.Errorf("secret params after rotation = %v", got.SecretParams)
	}
}
