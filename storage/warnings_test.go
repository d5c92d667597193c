package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// TestExpireDueWaitsForPendingWarnings: an expired environment with an
// expiry warning not claimed yet is not due; once the warning is claimed
// (sent or dropped) it is, and a warning is claimed once.
func TestExpireDueWaitsForPendingWarnings(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	v := seedVersion(t, db)
	now := time.Now().UTC().Truncate(time.Microsecond)
	e := newEnv("warned", "warned", v)
	e.Status, e.ExpiresAt = "ready", now.Add(-time.Second)
	if err := db.CreateEnvironment(ctx, e); err != nil {
		t.Fatal(err)
	}
	w := storage.EnvironmentWarning{EnvironmentID: e.ID, Deadline: e.ExpiresAt, Lead: 10 * time.Minute, DueAt: now}
	if err := db.ArmWarnings(ctx, []storage.EnvironmentWarning{w, w}); err != nil { // armed twice: one row
		t.Fatal(err)
	}
	live := []string{"pending", "provisioning", "ready"}
	updates := storage.EnvironmentUpdate{DestroyRequestedAt: storage.At(now), UpdatedAt: storage.Set(now)}
	if got, err := db.ExpireDue(ctx, live, storage.WithStack, "destroying", now, 10, updates); err != nil || len(got) != 0 {
		t.Fatalf("with its warning pending: got %+v, %v; want none", got, err)
	}
	due, err := db.WarningsDue(ctx, now, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due %+v, %v; want the one warning", due, err)
	}
	for i, want := range []int{1, 0} {
		n, err := db.ClaimWarnings(ctx, e.ID, due[0].Deadline, []time.Duration{due[0].Lead}, "sent", now)
		if err != nil || n != want {
			t.Fatalf("claim %d: %d, %v; want %d", i+1, n, err, want)
		}
	}
	if got, err := db.ExpireDue(ctx, live, storage.WithStack, "destroying", now, 10, updates); err != nil || len(got) != 1 {
		t.Fatalf("with its warning sent: got %+v, %v; want it", got, err)
	}
}
