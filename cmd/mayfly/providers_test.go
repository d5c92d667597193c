package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// TestProvidersTurnedOff runs a portal with sign-in and local listed,
// launches on it, then starts it again with the defaults, under which
// local is off with sign-in: publishing and launching local templates are
// refused naming the setting, and what local made is still destroyed, by
// its owner and by the reaper.
func TestProvidersTurnedOff(t *testing.T) {
	o := startOP(t)
	ctx := context.Background()
	dataDir, dbURL := t.TempDir(), storagetest.URL(t)
	config := func(extra ...string) Config {
		cfg := signInConfig(t, o, extra...)
		cfg.DataDir, cfg.DatabaseURL = dataDir, dbURL
		return cfg
	}

	first := NewMain(config())
	if err := first.Run(ctx); err != nil {
		t.Fatal(err)
	}
	s := &testServer{Main: first, t: t, url: first.URL()}
	if _, _, err := s.Service.Publish(ctx, envs.System, []byte(publishedTemplate)); err != nil {
		t.Fatal(err)
	}
	bob, _, _ := mintSession(t, s, "bob", "developers", "team-shop")
	launch := func(ttl string) *envs.Environment {
		t.Helper()
		e, err := s.Service.Launch(ctx, bob, envs.LaunchRequest{Template: "tiny", Params: map[string]any{"password": "pw"}, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	kept, reaped := launch("1h"), launch("8s")
	for _, e := range []*envs.Environment{kept, reaped} {
		waitEnv(t, s, e.ID, envs.StatusReady, 20*time.Second)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	second := NewMain(config("--providers", ""))
	second.Log = slog.New(slog.NewJSONHandler(logs, nil))
	if err := second.Run(ctx); err != nil {
		t.Fatal(err)
	}
	s = &testServer{Main: second, t: t, url: second.URL()}
	t.Cleanup(func() { second.Close(); s.destroyAll() })
	if !strings.Contains(logs.String(), `"on":"","off":"local"`) {
		t.Errorf("start-up does not log that local is off: %s", logs.String())
	}
	ada, _, _ := mintSession(t, s, "ada", "mayfly-admins")
	adaToken, _, _ := s.Service.CreateToken(ctx, ada, "ci", "", "")
	bob, _, _ = mintSession(t, s, "bob", "developers", "team-shop")
	bobToken, _, _ := s.Service.CreateToken(ctx, bob, "ci", "", "")

	next := strings.Replace(publishedTemplate, "version: 1.0.0", "version: 1.0.1", 1)
	r := bearer(t, s, adaToken, "POST", "/api/v1/templates", "application/yaml", next)
	assertProblem(t, r, http.StatusUnprocessableEntity, "provider")
	if !strings.Contains(string(r.Body), "the local provider is turned off on this server") || !strings.Contains(string(r.Body), "--providers (MAYFLY_PROVIDERS)") {
		t.Errorf("the refused publish does not say why and what turns it on: %s", r.Body)
	}
	r = bearer(t, s, bobToken, "POST", "/api/v1/environments", "application/json", `{"template":"tiny","params":{"password":"pw"}}`)
	assertProblem(t, r, http.StatusUnprocessableEntity, "template")
	if !strings.Contains(string(r.Body), "--providers (MAYFLY_PROVIDERS)") {
		t.Errorf("the refused launch does not name the setting: %s", r.Body)
	}

	if r := bearer(t, s, bobToken, "DELETE", "/api/v1/environments/"+kept.ID, "", ""); r.Status != http.StatusAccepted {
		t.Fatalf("destroy: %d %s", r.Status, r.Body)
	}
	waitEnv(t, s, kept.ID, envs.StatusDestroyed, 30*time.Second)
	assertNoProcesses(t, kept.ID)
	waitEnv(t, s, reaped.ID, envs.StatusDestroyed, 30*time.Second)
	assertNoProcesses(t, reaped.ID)
	evs, err := s.Service.Events(ctx, reaped.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(evs, func(e envs.Event) bool { return strings.Contains(e.Message, "TTL expired") }) {
		t.Errorf("the environment was not reaped: %+v", evs)
	}
}

// waitEnv polls the service until the environment reaches want.
func waitEnv(t *testing.T, s *testServer, id string, want envs.Status, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		e, err := s.Service.Environment(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if e.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("environment %s is %s (%s), want %s", id, e.Status, e.StatusReason, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bearer makes a request with an API token.
func bearer(t *testing.T, s *testServer, token, method, path, contentType, body string) apiResponse {
	t.Helper()
	req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}
