package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// replacedJSON is what the replace tests read of an environment.
type replacedJSON struct {
	ID      string            `json:"id"`
	Status  string            `json:"status"`
	Version string            `json:"version"`
	StackID string            `json:"stack_id"`
	Outputs map[string]string `json:"outputs"`
	Stacks  []struct {
		ID           string     `json:"id"`
		Version      string     `json:"version"`
		Status       string     `json:"status"`
		StandbyUntil *time.Time `json:"standby_until"`
	} `json:"stacks"`
	Replace *struct {
		FromVersion string `json:"from_version"`
		ToVersion   string `json:"to_version"`
		State       string `json:"state"`
		Reason      string `json:"reason"`
		Why         string `json:"why"`
	} `json:"replace"`
	RollbackVersion string `json:"rollback_version"`
}

func (s *testServer) replaced(id string) replacedJSON {
	s.t.Helper()
	var e replacedJSON
	s.api("GET", "/api/v1/environments/"+id, nil).decode(s.t, &e)
	return e
}

// waitReplace polls until the latest replace ended, in state want.
func (s *testServer) waitReplace(id, want string) replacedJSON {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		e := s.replaced(id)
		if e.Replace != nil && e.Replace.State != "building" {
			if e.Replace.State != want {
				s.t.Fatalf("replace ended %s (%q), want %s", e.Replace.State, e.Replace.Reason, want)
			}
			return e
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("replace still %+v at the deadline", e.Replace)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Replace and rollback through the API on real local stacks: 202 at
// once, a second stack beside the first, switched once healthy (its URL
// answers), the old one kept on standby; a rollback switches back; a
// destroy leaves no process of either.
func TestReplaceAndRollbackAPI(t *testing.T) {
	s := startMain(t, filepath.Join("testdata", "drift-catalog"))
	src, err := os.ReadFile(filepath.Join("testdata", "drift-catalog", "drifting.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	next := strings.Replace(strings.Replace(string(src), "version: 1.0.0", "version: 1.1.0", 1), "stack:\n", "rollback: {grace: 1h}\nstack:\n", 1)
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(next)); r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("publish 1.1.0: %d %s", r.Status, r.Body)
	}
	e := s.launch(map[string]any{"template": "drifting", "version": "1.0.0", "name": "swap"})
	first := s.waitStatus(e.ID, "ready", 30*time.Second)

	assertProblem(t, s.api("POST", "/api/v1/environments/"+e.ID+"/replace", map[string]any{"version": "9.9.9"}), http.StatusUnprocessableEntity, "version")
	assertProblem(t, s.api("POST", "/api/v1/environments/"+e.ID+"/rollback", nil), http.StatusConflict, "")
	r := s.api("POST", "/api/v1/environments/"+e.ID+"/replace", map[string]any{"version": "1.1.0", "reason": "Rollout ro-7"})
	if r.Status != http.StatusAccepted {
		t.Fatalf("replace: %d %s", r.Status, r.Body)
	}
	got := s.waitReplace(e.ID, "switched")
	if got.Version != "1.1.0" || got.StackID == e.ID || got.Outputs["url"] == first.Outputs["url"] || got.Replace.Why != "Rollout ro-7" {
		t.Fatalf("after the replace: %+v", got)
	}
	if code, _, err := httpGet(got.Outputs["url"] + "healthz"); err != nil || code != http.StatusOK {
		t.Errorf("the new stack's URL: %d %v", code, err)
	}
	if len(got.Stacks) != 2 || got.Stacks[0].Status != "standby" || got.Stacks[0].StandbyUntil == nil || got.RollbackVersion != "1.0.0" {
		t.Errorf("stacks %+v rollback %q, want the first on standby and a rollback to 1.0.0", got.Stacks, got.RollbackVersion)
	}
	if r := s.api("POST", "/api/v1/environments/"+e.ID+"/rollback", nil); r.Status != http.StatusAccepted {
		t.Fatalf("rollback: %d %s", r.Status, r.Body)
	}
	back := s.replaced(e.ID)
	if back.Version != "1.0.0" || back.StackID != e.ID || back.Outputs["url"] != first.Outputs["url"] {
		t.Errorf("after the rollback: %+v", back)
	}
	if code, _, err := httpGet(back.Outputs["url"] + "healthz"); err != nil || code != http.StatusOK {
		t.Errorf("the first stack's URL after the rollback: %d %v", code, err)
	}
	s.destroyClean(e.ID)
	assertNoProcesses(t, got.StackID)
	if handles, _ := s.Local.Stacks(t.Context()); len(handles) > 0 {
		t.Errorf("stacks left: %v", handles)
	}
}

// A template whose drift remedy is replace gets a fresh stack of the same
// version when a check finds drift: the declared file is as declared again.
func TestDriftRemedyReplaces(t *testing.T) {
	s := startMain(t, filepath.Join("testdata", "drift-catalog"))
	e := s.launch(map[string]any{"template": "drifting-auto", "name": "healing"})
	s.waitStatus(e.ID, "ready", 30*time.Second)
	config := filepath.Join(s.Config.DataDir, "stacks", e.ID, "config", "app.yaml")
	if err := os.WriteFile(config, []byte("title: Edited by hand\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if d := s.checkDrift(e.ID); d.Status != "drifted" {
		t.Fatalf("after the edit: %+v, want drifted", d)
	}
	got := s.waitReplace(e.ID, "switched")
	if got.Version != "1.0.0" || got.StackID == e.ID || !strings.HasPrefix(got.Replace.Why, "Drift remedy: Drift detected") {
		t.Fatalf("after the remedy: %+v", got)
	}
	fresh, err := os.ReadFile(filepath.Join(s.Config.DataDir, "stacks", got.StackID, "config", "app.yaml"))
	if err != nil || string(fresh) != "title: Drifting\n" {
		t.Errorf("the new stack's config: %q %v, want as declared", fresh, err)
	}
	if !containsAny(s.events(e.ID), "Replace with drifting-auto@1.0.0 requested (Drift remedy") {
		t.Errorf("timeline: %q", s.events(e.ID))
	}
	s.destroyClean(e.ID)
	assertNoProcesses(t, got.StackID)
}
