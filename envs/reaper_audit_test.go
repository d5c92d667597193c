package envs_test

import (
	"context"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/internal/testclock"
)

// TestReaperAuditsExpiry: an environment destroyed because its TTL ran out
// is in the audit log, as the reaper's destroy with the detail "expired",
// exactly once with two replicas reaping.
func TestReaperAuditsExpiry(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	clock := testclock.New(t0)
	svcs, db := lifecycleReplicas(t, 2, clock)
	env := launchAs(t, svcs[0], "idle", "expiring", "", nil)
	waitReady(t, svcs[0], env.ID)

	clock.Set(env.ExpiresAt.Add(time.Second))
	waitFor(t, svcs[0], env.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool { return e.Status == envs.StatusDestroyed })

	entries, err := db.AuditEntries(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.Action == "environment.destroy" && e.Target == env.ID {
			got = append(got, e.Actor+" "+e.Via+" "+e.Result+" "+e.Detail)
		}
	}
	if want := "reaper system ok expired"; len(got) != 1 || got[0] != want {
		t.Errorf("audited destroys of the expired environment: %q, want one %q", got, want)
	}
}
