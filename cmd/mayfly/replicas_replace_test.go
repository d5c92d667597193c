package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs/local"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// A replica killed while it builds a replace's stack: another replica
// takes the replace over and finishes it (one stack in service, the old
// one on standby), and a destroy through it leaves no process of either.
func TestReplicaKilledMidReplaceAnotherFinishes(t *testing.T) {
	t.Parallel() // its own database, data directory and ports; mostly waiting on processes
	if !storagetest.Postgres() {
		t.Skip("needs PostgreSQL (set " + storagetest.EnvVar + "; make test does)")
	}
	if testing.Short() {
		t.Skip("starts real portal processes")
	}
	dataDir, dbURL := t.TempDir(), storagetest.URL(t)
	a := startPortal(t, dataDir, dbURL, freeAddr(t))
	defer a.kill()
	first := waitLeader(t, dbURL, "", 20*time.Second)
	e := a.server().launch(map[string]any{"template": "slow-setup", "name": "swapped", "ttl": "10m", "params": map[string]any{"setup_seconds": 1}})
	a.server().waitStatus(e.ID, "ready", 30*time.Second)
	r := a.server().api("POST", "/api/v1/environments/"+e.ID+"/replace", map[string]any{"params": map[string]string{"setup_seconds": "6"}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("replace: %d %s", r.Status, r.Body)
	}
	var building string
	deadline := time.Now().Add(20 * time.Second)
	for building == "" { // the candidate's setup is running
		for _, st := range a.server().replaced(e.ID).Stacks {
			if st.Status == "building" && len(local.Processes(st.ID)) > 0 {
				building = st.ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the candidate's setup did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.kill() // mid setup (6s, within the portals' 8s job timeout): the replace job stays "running" with a's name on it
	b := startPortal(t, dataDir, dbURL, freeAddr(t))
	defer b.kill()
	waitLeader(t, dbURL, first, 30*time.Second)

	s := b.server()
	deadline = time.Now().Add(120 * time.Second)
	var got replacedJSON
	for {
		got = s.replaced(e.ID)
		if got.Replace != nil && got.Replace.State != "building" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replace still %+v at the deadline", got.Replace)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got.Replace.State != "switched" || got.StackID != building {
		t.Fatalf("replace ended %+v on stack %s, want switched to %s", got.Replace, got.StackID, building)
	}
	inService := 0
	for _, st := range got.Stacks {
		if st.Status == "in_service" {
			inService++
		}
	}
	if inService != 1 {
		t.Errorf("%d stacks in service: %+v", inService, got.Stacks)
	}
	if code, _, err := httpGet(got.Outputs["url"]); err != nil || code != http.StatusOK {
		t.Errorf("GET %s: %d %v", got.Outputs["url"], code, err)
	}
	s.destroyClean(e.ID)
	assertNoProcesses(t, building)
}
