package main

import (
	"fmt"
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
	// A rollback switches back to the first stack, on standby: the
	// figures shown are that stack's own again, not the last stack's.
	if r := s.api("POST", "/api/v1/environments/"+e.ID+"/rollback", nil); r.Status != http.StatusAccepted {
		t.Fatalf("rollback: %d %s", r.Status, r.Body)
	}
	back := s.waitStatus(e.ID, "ready", 5*time.Second)
	if back.RTOSeconds == nil || *back.RTOSeconds != *first.RTOSeconds || back.RPOSeconds == nil || *back.RPOSeconds != *first.RPOSeconds {
		t.Errorf("after the rollback RTO %v RPO %v; want the standby stack's own, %v %v", ptrText(back.RTOSeconds), ptrText(back.RPOSeconds),
			*first.RTOSeconds, *first.RPOSeconds)
	}
	if r := s.replaced(e.ID); r.StackID == got.StackID {
		t.Errorf("after the rollback stack %s is still in service", r.StackID)
	}
	s.destroyClean(e.ID)
	assertNoProcesses(t, got.StackID)
}

func ptrText[T any](p *T) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}
