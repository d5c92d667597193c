package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs/local"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// assertLaunchedOnce checks the timeline of a relaunched environment says
// each step of its launch once.
func assertLaunchedOnce(t *testing.T, s *testServer, id, from string) {
	t.Helper()
	msgs := strings.Join(s.events(id), "\n")
	for _, want := range []string{"\nRelaunched from ", "\nProvisioning on ", "\nStack created: ", "\nReady"} {
		if n := strings.Count("\n"+msgs, want); n != 1 {
			t.Errorf("%s: %q %d times, want once:\n%s", id, want, n, msgs)
		}
	}
	if !strings.Contains(msgs, "("+from+")") {
		t.Errorf("%s: the timeline does not name its source %s:\n%s", id, from, msgs)
	}
}

// A portal SIGKILLed between a relaunch's request and its environment
// being ready (in its setup step): the next start finishes the launch,
// the relaunched environment ends ready and answers, launched once, its
// source untouched; destroys leave no process and no stack directory.
func TestRelaunchSurvivesSIGKILL(t *testing.T) {
	t.Parallel() // its own database, data directory and ports; mostly waiting on processes
	if testing.Short() {
		t.Skip("starts real portal processes")
	}
	dataDir, dbURL, addr := t.TempDir(), storagetest.URL(t), freeAddr(t)
	p := startPortal(t, dataDir, dbURL, addr)
	s := p.server()
	src := s.launch(map[string]any{"template": "slow-setup", "name": "source", "ttl": "10m", "params": map[string]any{"setup_seconds": 1}})
	srcURL := s.waitStatus(src.ID, "ready", 30*time.Second).Outputs["url"]

	again := s.relaunch(src.ID, map[string]any{"name": "again", "params": map[string]any{"setup_seconds": 3}})
	waitTrue(t, 20*time.Second, "the relaunch's setup step running", func() bool {
		return s.env(again.ID).Status == "provisioning" && len(local.Processes(again.ID)) > 0
	})
	running := local.Processes(again.ID) // the setup step's
	p.kill()
	if len(running) == 0 {
		t.Fatal("the setup step ended before the kill")
	}

	p = startPortal(t, dataDir, dbURL, addr)
	defer p.kill()
	s = p.server()
	// The new portal starts the launch over (on PostgreSQL once the
	// rescuer hands the killed portal's job back): its setup step runs again,
	// and the killed portal's is stopped by then.
	waitTrue(t, 60*time.Second, "the setup step started again", func() bool {
		return strings.Count(strings.Join(s.events(again.ID), "\n"), "setup: sleep 3 started") == 2
	})
	for _, pid := range running {
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(st), ") Z ") {
			t.Errorf("process %d of the killed portal's attempt still runs beside the new one: %s", pid, st)
		}
	}
	ready := s.waitStatus(again.ID, "ready", 60*time.Second)
	if code, _, err := httpGet(ready.Outputs["url"]); err != nil || code != http.StatusOK {
		t.Errorf("GET %s of the relaunched environment: %d %v", ready.Outputs["url"], code, err)
	}
	if fmt.Sprint(ready.Params["setup_seconds"]) != "3" {
		t.Errorf("relaunched with %v, want setup_seconds 3", ready.Params)
	}
	assertLaunchedOnce(t, s, again.ID, src.ID)
	// The killed portal's setup step is gone: what runs is the service.
	if pids := local.Processes(again.ID); len(pids) != 1 {
		t.Errorf("processes of the relaunched environment %v, want its one service", pids)
	}
	if got := s.env(src.ID); got.Status != "ready" || got.Outputs["url"] != srcURL {
		t.Errorf("the source after the crash: %s %v, want ready on %s", got.Status, got.Outputs, srcURL)
	}
	if n := strings.Count(strings.Join(s.events(src.ID), "\n"), "Relaunched as "); n != 1 {
		t.Errorf("the source says it was relaunched %d times, want once: %q", n, s.events(src.ID))
	}
	s.destroyClean(again.ID)
	s.destroyClean(src.ID)
	if entries, _ := os.ReadDir(filepath.Join(dataDir, "stacks")); len(entries) > 0 {
		t.Errorf("stack directories leaked: %v", entries)
	}
}

// Two replicas on one PostgreSQL database: a live environment relaunched
// through both at once, under two names, becomes two environments, each
// launched once (the same name through both: one relaunch, one 409); a
// destroyed one relaunched through one is ready seen through the other;
// destroys through the other leave no process.
func TestReplicasRelaunch(t *testing.T) {
	t.Parallel() // its own database, data directory and ports; mostly waiting on processes
	ps, _ := startReplicas(t, 2)
	a, b := ps[0].server(), ps[1].server()
	src := a.launch(map[string]any{"template": "slow-setup", "name": "shared", "ttl": "10m", "params": map[string]any{"setup_seconds": 1}})
	b.waitStatus(src.ID, "ready", 30*time.Second)

	relaunchBoth := func(names [2]string) [2]apiResponse {
		var out [2]apiResponse
		var wg sync.WaitGroup
		for i, via := range []*testServer{a, b} {
			wg.Go(func() {
				out[i] = via.api("POST", "/api/v1/environments/"+src.ID+"/relaunch", map[string]any{"name": names[i]})
			})
		}
		wg.Wait()
		return out
	}
	var ids []string
	for i, r := range relaunchBoth([2]string{"twin-a", "twin-b"}) {
		if r.Status != http.StatusAccepted {
			t.Fatalf("relaunch through replica %d: %d %s", i, r.Status, r.Body)
		}
		var e relaunchedJSON
		r.decode(t, &e)
		ids = append(ids, e.ID)
	}
	same := relaunchBoth([2]string{"twin-c", "twin-c"})
	if codes := []int{same[0].Status, same[1].Status}; !(codes[0] == http.StatusAccepted && codes[1] == http.StatusConflict ||
		codes[0] == http.StatusConflict && codes[1] == http.StatusAccepted) {
		t.Fatalf("one name relaunched through both replicas: %v, want one 202 and one 409", codes)
	}
	for _, r := range same {
		if r.Status == http.StatusAccepted {
			var e relaunchedJSON
			r.decode(t, &e)
			ids = append(ids, e.ID)
		}
	}
	for i, id := range ids {
		seen := []*testServer{b, a}[i%2]
		seen.waitStatus(id, "ready", 30*time.Second)
		assertLaunchedOnce(t, seen, id, src.ID)
	}

	b.destroyClean(src.ID)
	again := a.relaunch(src.ID, map[string]any{"name": "shared-again"})
	ready := b.waitStatus(again.ID, "ready", 30*time.Second)
	if code, _, err := httpGet(ready.Outputs["url"]); err != nil || code != http.StatusOK {
		t.Errorf("GET %s: %d %v", ready.Outputs["url"], code, err)
	}
	assertLaunchedOnce(t, a, again.ID, src.ID)
	ids = append(ids, again.ID)
	for i, id := range ids {
		[]*testServer{a, b}[i%2].destroyClean(id)
	}
}
