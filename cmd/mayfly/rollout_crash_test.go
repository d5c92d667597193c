package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs/local"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// publishTinyVersion publishes version of the instant template (see
// publishInstant) with its service running command.
func publishTinyVersion(t *testing.T, s *testServer, version, command string) {
	t.Helper()
	tpl := strings.Replace(publishedTemplate, "    required: true\n", "", 1)
	tpl = strings.Replace(tpl, "version: 1.0.0", "version: "+version, 1)
	tpl = strings.Replace(tpl, `command: ["sleep", "300"]`, "command: "+command, 1)
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(tpl)); r.Status != http.StatusCreated {
		t.Fatalf("publish tiny %s: %d %s", version, r.Status, r.Body)
	}
}

// launchInstant launches n environments of the instant template and waits
// until they are ready.
func launchInstant(t *testing.T, s *testServer, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = s.launch(map[string]any{"template": "tiny", "ttl": "1h"}).ID
	}
	for _, id := range ids {
		s.waitStatus(id, "ready", 30*time.Second)
	}
	return ids
}

// assertTinyRolledOut checks each environment is on version with one
// stack in service whose processes run, replaced once, and that no
// process of its first stack (the environment's id: gone, no rollback
// grace) is left.
func assertTinyRolledOut(t *testing.T, s *testServer, ids []string, version string) {
	t.Helper()
	for _, id := range ids {
		e := s.assertRolledOut(id, "tiny", version)
		waitNoProcessesOf(t, id)
		if e.StackID != "" && e.StackID != id && len(local.Processes(e.StackID)) == 0 {
			t.Errorf("%s: no process of its stack in service %s", id, e.StackID)
		}
	}
}

// destroyTiny destroys the environments and checks no process is left.
func destroyTiny(t *testing.T, s *testServer, ids []string) {
	t.Helper()
	for _, id := range ids {
		stack := s.replaced(id).StackID
		s.destroyClean(id)
		waitNoProcessesOf(t, stack)
	}
}

// A portal SIGKILLed while a rollout's item runs: the next start (same
// data directory and database) resumes the rollout where it was; every
// environment ends on the new version with one stack in service, none
// is replaced twice and no process is leaked.
func TestRolloutResumesAfterSIGKILL(t *testing.T) {
	t.Parallel() // its own database, data directory and ports; mostly waiting on processes
	if testing.Short() {
		t.Skip("starts real portal processes")
	}
	dataDir, dbURL := t.TempDir(), storagetest.URL(t)
	addr := freeAddr(t)
	p := startPortal(t, dataDir, dbURL, addr, "--rollback-grace", "0")
	s := p.server()
	publishInstant(t, s)
	ids := launchInstant(t, s, 4)
	publishTinyVersion(t, s, "1.1.0", `["sleep", "301"]`)

	ro := s.startRollout("tiny", map[string]any{"version": "1.1.0", "wave_size": 4, "concurrency": 1})
	// Kill while the second item runs: one environment is done, two wait.
	at := s.waitRolloutOf("tiny", ro.ID, func(r rolloutResp) bool {
		if r.Status != "running" {
			t.Fatalf("rollout %s before the kill: %+v", r.Status, r.Items)
		}
		return len(r.Items) == 4 && r.Items[1].State == "running"
	})
	p.kill()
	t.Logf("killed with the items %+v", at.Items)

	p = startPortal(t, dataDir, dbURL, addr, "--rollback-grace", "0")
	defer p.kill()
	s = p.server()
	ro = s.waitRolloutOf("tiny", ro.ID, func(r rolloutResp) bool { return r.Status != "running" })
	if ro.Status != "done" {
		t.Fatalf("rollout %s %q after the restart: %+v", ro.Status, ro.Reason, ro.Items)
	}
	for _, it := range ro.Items {
		if it.State != "done" {
			t.Errorf("item %+v, want done", it)
		}
	}
	assertTinyRolledOut(t, s, ids, "1.1.0")
	destroyTiny(t, s, ids)
}

// Two replicas on one PostgreSQL database: a rollout started on one
// replaces each environment exactly once; a rollout of a failing version
// paused on one is resumed and cancelled through the other.
func TestReplicasRollout(t *testing.T) {
	t.Parallel() // its own database, data directory and ports; mostly waiting on processes
	ps, _ := startReplicas(t, 2, "--rollback-grace", "0")
	a, b := ps[0].server(), ps[1].server()
	publishInstant(t, a)
	ids := launchInstant(t, a, 4)
	publishTinyVersion(t, a, "1.1.0", `["sleep", "301"]`)

	ro := a.startRollout("tiny", map[string]any{"version": "1.1.0", "wave_size": 2, "concurrency": 2})
	ro = b.waitRolloutOf("tiny", ro.ID, func(r rolloutResp) bool { return r.Status != "running" })
	if ro.Status != "done" {
		t.Fatalf("rollout %s %q: %+v", ro.Status, ro.Reason, ro.Items)
	}
	assertTinyRolledOut(t, b, ids, "1.1.0")

	// 1.2.0's setup step fails: each replace to it fails. (A service that
	// exits at once would not do: with no health check it counts as
	// healthy if it still runs when first looked at.)
	publishTinyVersion(t, a, "1.2.0", `["sleep", "302"]
  setup:
    - command: ["sh", "-c", "echo no database >&2; exit 3"]`)
	ro = a.startRollout("tiny", map[string]any{"version": "1.2.0", "wave_size": 4, "concurrency": 1})
	states := func(r rolloutResp) map[string]int {
		n := map[string]int{}
		for _, it := range r.Items {
			n[it.State]++
		}
		return n
	}
	ro = a.waitRolloutOf("tiny", ro.ID, func(r rolloutResp) bool { return r.Status != "running" })
	if got := states(ro); ro.Status != "paused" || got["failed"] != 1 || got["pending"] != 3 {
		t.Fatalf("rollout %s %q %v, want paused with one failed", ro.Status, ro.Reason, got)
	}
	r := b.api("POST", "/api/v1/templates/tiny/rollouts/"+ro.ID+"/resume", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("resume through the other replica: %d %s", r.Status, r.Body)
	}
	ro = a.waitRolloutOf("tiny", ro.ID, func(r rolloutResp) bool { return r.Status == "paused" && states(r)["failed"] == 2 })
	if got := states(ro); got["pending"] != 2 {
		t.Fatalf("after the resume: %s %v, want two failed and two pending", ro.Status, got)
	}
	r = b.api("POST", "/api/v1/templates/tiny/rollouts/"+ro.ID+"/cancel", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("cancel through the other replica: %d %s", r.Status, r.Body)
	}
	ro = a.waitRolloutOf("tiny", ro.ID, func(r rolloutResp) bool { return true })
	if got := states(ro); ro.Status != "cancelled" || got["skipped"] != 2 || got["failed"] != 2 {
		t.Errorf("after the cancel: %s %v, want cancelled with two skipped", ro.Status, got)
	}
	for _, id := range ids {
		e := a.replaced(id)
		if e.Status != "ready" || e.Version != "1.1.0" {
			t.Errorf("%s after the failed rollout: %s on %s, want ready on 1.1.0", id, e.Status, e.Version)
		}
		if n := strings.Count(strings.Join(a.events(id), "\n"), "Replace with tiny@1.2.0 requested"); n > 1 {
			t.Errorf("%s: replaced with 1.2.0 %d times", id, n)
		}
	}
	destroyTiny(t, a, ids)
}
