package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// The drift rows through the scheduler's eyes: a ready stack without a
// row is a seed, a row is due at its time, a request counts itself and
// keeps the scan off it, a row about another stack is stale, and only
// ready environments' current stacks count as drifted.
func TestDriftRows(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	v := seedVersion(t, db)
	// As a version published before drift policies has them.
	if _, err := db.SQL().ExecContext(ctx, `UPDATE template_versions SET drift_interval = 86400000000000, drift_remedy = 'manual'`); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	ready := now.Add(-time.Hour)
	envs := map[string]*storage.Environment{}
	for _, id := range []string{"env-a", "env-b", "env-c"} {
		e := newEnv(id, id, v)
		e.Handle, e.ReadyAt = id, &ready
		envs[id] = e
		if err := db.CreateEnvironment(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	envs["env-c"].Status = "provisioning"
	if err := db.UpdateEnvironment(ctx, "env-c", storage.EnvironmentUpdate{Status: storage.Set("provisioning")}); err != nil {
		t.Fatal(err)
	}

	seeds, err := db.DriftSeeds(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(seeds) != 2 || seeds[0].DriftInterval != 24*time.Hour || seeds[0].ReadyAt == nil || !seeds[0].ReadyAt.Equal(ready) {
		t.Fatalf("seeds %+v, want the two ready stacks with the version's default interval", seeds)
	}
	due := now.Add(-time.Minute)
	later := now.Add(time.Hour)
	for id, at := range map[string]time.Time{"env-a": due, "env-b": later} {
		if err := db.SaveDrift(ctx, &storage.EnvironmentDrift{EnvironmentID: id, Handle: id, DueAt: &at}); err != nil {
			t.Fatal(err)
		}
	}
	if seeds, _ := db.DriftSeeds(ctx, 10); len(seeds) != 0 {
		t.Errorf("seeds %+v after both got a row", seeds)
	}
	dueIDs := func() []string {
		t.Helper()
		ids, err := db.DueDrift(ctx, now, now.Add(-time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := dueIDs(); len(got) != 1 || got[0] != "env-a" {
		t.Errorf("due %v, want env-a", got)
	}

	// A request: counted, and the row is no longer due until it is
	// answered (or is an hour old).
	err = db.InTx(ctx, func(tx *storage.Tx) error {
		if _, err := tx.LockDrift(ctx, "env-a"); err != nil {
			return err
		}
		if err := tx.RequestDrift(ctx, "env-a", "env-a", now, "ada", false); err != nil {
			return err
		}
		return tx.RequestDrift(ctx, "env-a", "env-a", now, "bob", true)
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.Drift(ctx, "env-a")
	if err != nil || d.Requests != 2 || d.RequestedBy != "ada" || d.RequestedAt == nil || !d.RequestedAt.Equal(now) {
		t.Fatalf("after two requests: %+v, %v; want two counted, the first one's time and asker", d, err)
	}
	if got := dueIDs(); len(got) != 0 {
		t.Errorf("due %v while a check is requested", got)
	}
	if ids, _ := db.DueDrift(ctx, now, now.Add(time.Minute), 10); len(ids) != 1 {
		t.Errorf("a request older than the stale time is not due again: %v", ids)
	}
	// A request for an environment with no row creates one.
	if err := db.RequestDrift(ctx, "env-c", "env-c", now, "ada", false); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LockDrift(ctx, "env-nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("LockDrift of nothing: %v, want ErrNotFound", err)
	}

	// Results: env-a drifted, env-c too (but it is not ready).
	for _, id := range []string{"env-a", "env-c"} {
		if err := db.SaveDrift(ctx, &storage.EnvironmentDrift{EnvironmentID: id, Handle: id, State: "drifted", CheckedAt: &now,
			Items: `[{"resource":"x"}]`}); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := db.CountDrifted(ctx)
	if err != nil || len(counts) != 1 || counts["local"] != 1 {
		t.Errorf("drifted counts %v, %v; want local: 1 (the ready one)", counts, err)
	}
	yes := true
	list, err := db.Environments(ctx, storage.EnvironmentFilter{Drifted: &yes})
	if err != nil || len(list) != 2 {
		t.Errorf("drifted listing: %d, %v; want env-a and env-c", len(list), err)
	}
	states, err := db.DriftStates(ctx, []string{"env-a", "env-b", "env-c"})
	if err != nil || len(states) != 3 {
		t.Fatalf("states %+v, %v", states, err)
	}
	for _, st := range states {
		if st.PolicyInterval != 24*time.Hour || st.PolicyRemedy != "manual" {
			t.Errorf("%s: policy %s %s, want the version's defaults", st.EnvironmentID, st.PolicyInterval, st.PolicyRemedy)
		}
		if st.EnvironmentID == "env-a" && (st.State != "drifted" || st.CheckedAt == nil || !st.CheckedAt.Equal(now) || st.Items != `[{"resource":"x"}]`) {
			t.Errorf("env-a: %+v", st)
		}
	}

	// The stack replaced: the row is about the old one, so the new stack
	// is a seed, not drifted.
	if err := db.UpdateEnvironment(ctx, "env-a", storage.EnvironmentUpdate{Handle: storage.Set("env-a-2")}); err != nil {
		t.Fatal(err)
	}
	if seeds, _ := db.DriftSeeds(ctx, 10); len(seeds) != 1 || seeds[0].ID != "env-a" || seeds[0].Handle != "env-a-2" {
		t.Errorf("seeds %+v, want env-a's new stack", seeds)
	}
	if counts, _ := db.CountDrifted(ctx); counts["local"] != 0 {
		t.Errorf("drifted %v after the stack was replaced", counts)
	}
	if list, _ := db.Environments(ctx, storage.EnvironmentFilter{Drifted: &yes}); len(list) != 1 || list[0].ID != "env-c" {
		t.Errorf("drifted listing after the replace: %+v", list)
	}
}
