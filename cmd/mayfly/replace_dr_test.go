package main

import (
	"net/http"
	"testing"
	"time"
)

// A replace of a DR drill builds a fresh stack that restores the snapshot
// and runs the drill's verify before the switch, and records the new
// stack's own recovery: RTO and RPO are measured again and the timeline
// says so.
func TestReplaceDRRecordsRecovery(t *testing.T) {
	s := startMain(t, "")
	e := s.launch(map[string]any{"template": "shop-dr-drill", "name": "drill", "ttl": "10m"})
	first := s.waitStatus(e.ID, "ready", 60*time.Second)
	if first.RTOSeconds == nil || first.RPOSeconds == nil {
		t.Fatalf("the first stack's RTO %v RPO %v", first.RTOSeconds, first.RPOSeconds)
	}
	if r := s.api("POST", "/api/v1/environments/"+e.ID+"/replace", map[string]any{"version": "1.0.0", "reason": "drill again"}); r.Status != http.StatusAccepted {
		t.Fatalf("replace: %d %s", r.Status, r.Body)
	}
	got := s.waitReplace(e.ID, "switched")
	after := s.waitStatus(e.ID, "ready", 5*time.Second)
	if after.RTOSeconds == nil || *after.RTOSeconds == *first.RTOSeconds || after.RPOSeconds == nil || *after.RPOSeconds < *first.RPOSeconds {
		t.Errorf("after the replace RTO %v RPO %v, first %v %v: want the new stack's (measured again; its snapshot older by now)",
			after.RTOSeconds, after.RPOSeconds, *first.RTOSeconds, *first.RPOSeconds)
	}
	events := s.events(e.ID)
	if !containsAny(events, "verify passed") || !containsAny(events, "New stack recovered and verified: RTO") {
		t.Errorf("timeline %q: want the new stack's verify and recovery", events)
	}
	s.destroyClean(e.ID)
	assertNoProcesses(t, got.StackID)
}
