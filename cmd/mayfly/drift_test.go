package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// driftJSON is the drift object of an environment in the API.
type driftJSON struct {
	Status       string     `json:"status"`
	Drifted      bool       `json:"drifted"`
	Checking     bool       `json:"checking"`
	CheckedAt    *time.Time `json:"checked_at"`
	DriftedSince *time.Time `json:"drifted_since"`
	Items        []struct {
		Resource    string `json:"resource"`
		Type        string `json:"type"`
		Status      string `json:"status"`
		Detail      string `json:"detail"`
		Differences []struct {
			Path     string `json:"path"`
			Expected string `json:"expected"`
			Actual   string `json:"actual"`
		} `json:"differences"`
	} `json:"items"`
	Error       string     `json:"error"`
	NextCheckAt *time.Time `json:"next_check_at"`
	Interval    string     `json:"interval"`
	Remedy      string     `json:"remedy"`
}

// drift reads an environment's drift object.
func (s *testServer) drift(id string) driftJSON {
	s.t.Helper()
	var e struct {
		Drift *driftJSON `json:"drift"`
	}
	r := s.api("GET", "/api/v1/environments/"+id, nil)
	r.decode(s.t, &e)
	if e.Drift == nil {
		s.t.Fatalf("environment %s has no drift object: %s", id, r.Body)
	}
	return *e.Drift
}

// checkDrift asks for a drift check through the API (202) and waits for
// its result.
func (s *testServer) checkDrift(id string) driftJSON {
	s.t.Helper()
	before := s.drift(id).CheckedAt
	r := s.api("POST", "/api/v1/environments/"+id+"/drift-check", nil)
	if r.Status != http.StatusAccepted {
		s.t.Fatalf("drift-check: %d %s", r.Status, r.Body)
	}
	var e struct {
		Drift driftJSON `json:"drift"`
	}
	r.decode(s.t, &e)
	if !e.Drift.Checking {
		s.t.Errorf("drift-check answered %+v, want the check in progress", e.Drift)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := s.drift(id)
		if !d.Checking && d.CheckedAt != nil && (before == nil || d.CheckedAt.After(*before)) {
			return d
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("drift check of %s not done: %+v", id, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A local stack checked on demand through the API: in sync when ready, a
// declared file edited by hand is drift (on the environment, its timeline,
// the listing's filter and the metrics), and only ready environments are
// checked.
func TestDriftCheckLocal(t *testing.T) {
	s := startMain(t, filepath.Join("testdata", "drift-catalog"))
	e := s.launch(map[string]any{"template": "drifting", "name": "drifty"})
	s.waitStatus(e.ID, "ready", 30*time.Second)
	if d := s.drift(e.ID); d.Status != "never_checked" || d.Interval != "12h" || d.Remedy != "manual" || d.NextCheckAt == nil {
		t.Errorf("before any check: %+v, want never checked, every 12h, next one scheduled", d)
	}
	if d := s.checkDrift(e.ID); d.Status != "in_sync" || d.Drifted || len(d.Items) != 0 {
		t.Fatalf("a fresh stack: %+v, want in sync", d)
	}

	config := filepath.Join(s.Config.DataDir, "stacks", e.ID, "config", "app.yaml")
	if err := os.WriteFile(config, []byte("title: Edited by hand\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := s.checkDrift(e.ID)
	if d.Status != "drifted" || !d.Drifted || len(d.Items) != 1 || d.Items[0].Resource != "config/app.yaml" ||
		d.Items[0].Status != "MODIFIED" || len(d.Items[0].Differences) != 1 || d.DriftedSince == nil {
		t.Fatalf("after the edit: %+v, want the file modified", d)
	}
	msgs := s.events(e.ID)
	for _, want := range []string{"Drift check requested by", "Drift detected: 1 difference from what 1.0.0 declares: config/app.yaml (file) MODIFIED"} {
		if !containsAny(msgs, want) {
			t.Errorf("timeline lacks %q: %q", want, msgs)
		}
	}
	var list struct {
		Items []envJSON `json:"items"`
	}
	s.api("GET", "/api/v1/environments?drifted=true", nil).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != e.ID {
		t.Errorf("?drifted=true lists %+v, want the drifted environment", list.Items)
	}
	assertProblem(t, s.api("GET", "/api/v1/environments?drifted=maybe", nil), http.StatusUnprocessableEntity, "drifted")
	if code, page, err := httpGet(s.url + "/environments?drifted=true"); err != nil || code != http.StatusOK || !strings.Contains(page, `>drifty<`) {
		t.Errorf("the environments page with ?drifted=true: %d %v, want it to list drifty", code, err)
	}
	if code, page, _ := httpGet(s.url + "/environments?drifted=false"); code != http.StatusOK || strings.Contains(page, `>drifty<`) {
		t.Errorf("the environments page with ?drifted=false: %d, lists drifty", code)
	}

	_, metrics, err := httpGet(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`mayfly_drift_checks_total{provider="local",result="in_sync"} 1`,
		`mayfly_drift_checks_total{provider="local",result="drifted"} 1`, `mayfly_environments_drifted{provider="local"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Put back: in sync again, said once on the timeline.
	if err := os.WriteFile(config, []byte("title: Drifting\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if d := s.checkDrift(e.ID); d.Status != "in_sync" || d.DriftedSince != nil {
		t.Errorf("put back: %+v, want in sync", d)
	}
	if n := countContaining(s.events(e.ID), "Back in sync"); n != 1 {
		t.Errorf("%d \"Back in sync\" lines, want 1", n)
	}
	s.destroyClean(e.ID)
	r := s.api("POST", "/api/v1/environments/"+e.ID+"/drift-check", nil)
	assertProblem(t, r, http.StatusConflict, "")
	assertProblem(t, s.api("POST", "/api/v1/environments/env-nope/drift-check", nil), http.StatusNotFound, "")
}

// An aws stack checked on demand through the API against the fake: a
// resource changed by hand is drift with the property's difference, and
// one deleted by hand too; a second request while a check runs gets a
// check of its own after it, never one beside it.
func TestDriftCheckAWS(t *testing.T) {
	s, fake := startAWSMain(t)
	e := s.launch(map[string]any{"template": "aws-topic", "name": "topical", "params": map[string]any{"customer": "acme"}})
	s.waitStatus(e.ID, "ready", 20*time.Second)
	if d := s.checkDrift(e.ID); d.Status != "in_sync" || d.Interval != "24h" || d.Remedy != "manual" {
		t.Fatalf("a fresh stack: %+v, want in sync, checked daily, remedied by hand", d)
	}
	stack := fake.Stacks()[0].ID
	fake.DriftResource(stack, "Topic", "DisplayName", "Renamed in the console")
	fake.DeleteResource(stack, "Queue")
	d := s.checkDrift(e.ID)
	if d.Status != "drifted" || len(d.Items) != 2 {
		t.Fatalf("after the changes by hand: %+v, want two drifted resources", d)
	}
	byRes := map[string]int{}
	for i, it := range d.Items {
		byRes[it.Resource] = i
	}
	topic, queue := d.Items[byRes["Topic"]], d.Items[byRes["Queue"]]
	if topic.Type != "AWS::SNS::Topic" || topic.Status != "MODIFIED" || len(topic.Differences) != 1 ||
		topic.Differences[0].Path != "/DisplayName" || topic.Differences[0].Expected != "Demo for acme" || topic.Differences[0].Actual != "Renamed in the console" {
		t.Errorf("Topic: %+v", topic)
	}
	if queue.Type != "AWS::SQS::Queue" || queue.Status != "DELETED" {
		t.Errorf("Queue: %+v", queue)
	}

	// A detection that takes a while, asked for again once it runs: a
	// second detection, after the first.
	fake.Step = 700 * time.Millisecond
	detections := fake.Calls("DetectStackDrift")
	post := func() {
		t.Helper()
		if r := s.api("POST", "/api/v1/environments/"+e.ID+"/drift-check", nil); r.Status != http.StatusAccepted {
			t.Fatalf("drift-check: %d %s", r.Status, r.Body)
		}
	}
	post()
	deadline := time.Now().Add(30 * time.Second)
	for fake.Calls("DetectStackDrift") == detections {
		if time.Now().After(deadline) {
			t.Fatal("the check did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	post()
	for s.drift(e.ID).Checking {
		if time.Now().After(deadline) {
			t.Fatal("the checks did not finish")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := fake.Calls("DetectStackDrift") - detections; n != 2 {
		t.Errorf("%d detections for two requests, want 2", n)
	}
	if n := fake.OverlappingDetections(); n != 0 {
		t.Errorf("%d detections started while another of the stack ran", n)
	}
	if n := fake.Calls("DescribeStackDriftDetectionStatus"); n == 0 {
		t.Error("the detection's status was never asked")
	}
}

// Checks queued together run --drift-concurrency at a time.
func TestDriftChecksAreBounded(t *testing.T) {
	s, fake := startAWSMain(t, "--drift-concurrency", "1")
	var ids []string
	for _, name := range []string{"one", "two", "three"} {
		e := s.launch(map[string]any{"template": "aws-topic", "name": name, "params": map[string]any{"customer": name}})
		ids = append(ids, e.ID)
	}
	for _, id := range ids {
		s.waitStatus(id, "ready", 20*time.Second)
	}
	fake.Step = 300 * time.Millisecond // each detection takes a while
	for _, id := range ids {
		if r := s.api("POST", "/api/v1/environments/"+id+"/drift-check", nil); r.Status != http.StatusAccepted {
			t.Fatalf("drift-check: %d %s", r.Status, r.Body)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range ids {
		for d := s.drift(id); d.Checking || d.CheckedAt == nil; d = s.drift(id) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %+v", id, d)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if n := fake.MostDetections(); n != 1 {
		t.Errorf("%d detections at once, want 1 (--drift-concurrency 1)", n)
	}
}
