package main

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

type rolloutResp struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Reason string `json:"reason"`
	Items  []struct {
		EnvironmentID string `json:"environment_id"`
		FromVersion   string `json:"from_version"`
		Wave          int    `json:"wave"`
		State         string `json:"state"`
		Reason        string `json:"reason"`
	} `json:"items"`
}

func publishDemoShop(t *testing.T, s *testServer, version string) {
	t.Helper()
	src, err := os.ReadFile("../../catalog/demo-shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(strings.Replace(string(src), "version: 1.0.0", "version: "+version, 1))); r.Status != http.StatusCreated {
		t.Fatalf("publish %s: %d %s", version, r.Status, r.Body)
	}
}

func (s *testServer) waitRollout(id string, done func(rolloutResp) bool) rolloutResp {
	s.t.Helper()
	return s.waitRolloutOf("demo-shop", id, done)
}

// waitRolloutOf polls a rollout of template until done says so.
func (s *testServer) waitRolloutOf(template, id string, done func(rolloutResp) bool) rolloutResp {
	s.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var ro rolloutResp
		r := s.api("GET", "/api/v1/templates/"+template+"/rollouts/"+id, nil)
		if r.Status != http.StatusOK {
			s.t.Fatalf("GET rollout %s: %d %s", id, r.Status, r.Body)
		}
		r.decode(s.t, &ro)
		if done(ro) {
			return ro
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("rollout %s still %s at the deadline: %+v", id, ro.Status, ro.Items)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRolloutAPI: the rollout calls' validation, answers and states, with a
// selection that matches nothing (a rollout of nothing is done at once).
func TestRolloutAPI(t *testing.T) {
	s := startMain(t, "")
	t.Cleanup(s.destroyAll)
	s.launch(map[string]any{"template": "demo-shop", "name": "on-100", "params": map[string]any{"customer": "Acme"}, "ttl": "1h"})
	publishDemoShop(t, s, "1.1.0")

	assertProblem(t, s.api("POST", "/api/v1/templates/demo-shop/rollouts", map[string]any{"version": "1.1.0", "wave_size": 500}), http.StatusUnprocessableEntity, "wave_size")
	assertProblem(t, s.api("POST", "/api/v1/templates/demo-shop/rollouts", map[string]any{"version": "1.1.0", "wave_size": 2, "concurrency": 3}), http.StatusUnprocessableEntity, "concurrency")
	assertProblem(t, s.api("POST", "/api/v1/templates/demo-shop/rollouts", map[string]any{"version": "1.1.0", "filter": map[string]any{"label": []string{"nokey"}}}), http.StatusUnprocessableEntity, "filter.label")
	assertProblem(t, s.api("POST", "/api/v1/templates/demo-shop/rollouts", map[string]any{"version": "1.1.0", "filter": map[string]any{"kind": "prod"}}), http.StatusUnprocessableEntity, "filter.kind")
	assertProblem(t, s.api("POST", "/api/v1/templates/demo-shop/rollouts", map[string]any{"version": "9.9.9"}), http.StatusNotFound, "")
	assertProblem(t, s.api("POST", "/api/v1/templates/demo-shop/rollouts", map[string]any{"version": "1.1.0", "size": 1}), http.StatusUnprocessableEntity, "size")

	r := s.api("POST", "/api/v1/templates/demo-shop/rollouts", map[string]any{"version": "1.1.0", "filter": map[string]any{"label": []string{"pr=none"}}, "wave_size": 2})
	if r.Status != http.StatusCreated {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	var ro rolloutResp
	r.decode(t, &ro)
	if !strings.HasPrefix(ro.ID, "ro-") || len(ro.Items) != 0 {
		t.Fatalf("rollout %+v: want an id ro-... and no items", ro)
	}
	ro = s.waitRollout(ro.ID, func(r rolloutResp) bool { return r.Status == "done" })
	assertProblem(t, s.api("POST", "/api/v1/templates/demo-shop/rollouts/"+ro.ID+"/cancel", nil), http.StatusConflict, "")
	assertProblem(t, s.api("POST", "/api/v1/templates/demo-shop/rollouts/"+ro.ID+"/resume", nil), http.StatusConflict, "")
	assertProblem(t, s.api("GET", "/api/v1/templates/demo-shop/rollouts/ro-nope", nil), http.StatusNotFound, "")
	var list struct {
		Items []rolloutResp `json:"items"`
	}
	s.api("GET", "/api/v1/templates/demo-shop/rollouts", nil).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != ro.ID {
		t.Errorf("list: %+v", list.Items)
	}
}

// TestRolloutEndToEnd rolls 1.1.0 out to three local environments on
// 1.0.0 in waves of two, one at a time, through the real replace.
func TestRolloutEndToEnd(t *testing.T) {
	s := startMain(t, "")
	t.Cleanup(s.destroyAll)
	var ids []string
	for _, n := range []string{"ro-a", "ro-b", "ro-c"} {
		e := s.launch(map[string]any{"template": "demo-shop", "name": n, "params": map[string]any{"customer": "Acme"}, "ttl": "1h", "labels": map[string]string{"ring": "all"}})
		s.waitStatus(e.ID, "ready", time.Minute)
		ids = append(ids, e.ID)
	}
	publishDemoShop(t, s, "1.1.0")
	r := s.api("POST", "/api/v1/templates/demo-shop/rollouts", map[string]any{"version": "1.1.0", "filter": map[string]any{"label": []string{"ring=all"}}, "wave_size": 2, "concurrency": 1})
	if r.Status != http.StatusCreated {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	var ro rolloutResp
	r.decode(t, &ro)
	ro = s.waitRollout(ro.ID, func(r rolloutResp) bool { return r.Status != "running" })
	if ro.Status != "done" {
		t.Fatalf("rollout %s %q: %+v", ro.Status, ro.Reason, ro.Items)
	}
	for _, id := range ids {
		var e struct {
			Version      string `json:"version"`
			Status       string `json:"status"`
			NewerVersion string `json:"newer_version"`
		}
		s.api("GET", "/api/v1/environments/"+id, nil).decode(t, &e)
		if e.Version != "1.1.0" || e.Status != "ready" || e.NewerVersion != "" {
			t.Errorf("%s after the rollout: %+v", id, e)
		}
	}
}
