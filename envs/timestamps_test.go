package envs_test

import (
	"context"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/internal/testclock"
)

// TestTimestampsComeFromTheClock: every time the domain writes through a
// launch, a replace and a destroy comes from the service's clock, none
// from the database layer's own (gorm's NowFunc) or the host's. The clock
// stands two days back, so a time taken anywhere else shows.
func TestTimestampsComeFromTheClock(t *testing.T) {
	ctx := context.Background()
	at := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Second)
	clk := testclock.New(at)
	svc, _, db := replaceServiceDB(t, envs.Config{Clock: clk.Now})
	launched, err := svc.Launch(ctx, bob, envs.LaunchRequest{Template: "app", Version: "1.0.0", Name: "app",
		Params: map[string]any{"token": "s3cret-token"}})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, svc, launched.ID)
	// 1.3.0 keeps no old stack: it is destroyed at once.
	if _, err := svc.Replace(ctx, bob, envs.ReplaceRequest{ID: launched.ID, Version: "1.3.0"}); err != nil {
		t.Fatal(err)
	}
	waitReplaced(t, svc, launched.ID, envs.ReplaceSwitched)
	if _, err := svc.Destroy(ctx, bob, launched.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, svc, launched.ID, time.Now().Add(30*time.Second), func(e *envs.Environment) bool { return e.Status == envs.StatusDestroyed })

	check := func(what string, got *time.Time) {
		t.Helper()
		if got == nil {
			t.Errorf("%s: not set, want %s", what, at)
		} else if !got.Equal(at) {
			t.Errorf("%s: %s, want the clock's %s", what, got.UTC(), at)
		}
	}
	r, err := db.Environment(ctx, launched.ID)
	if err != nil {
		t.Fatal(err)
	}
	check("environment created_at", &r.CreatedAt)
	check("environment updated_at", &r.UpdatedAt)
	check("environment provision_started_at", r.ProvisionStartedAt)
	check("environment ready_at", r.ReadyAt)
	check("environment destroy_requested_at", r.DestroyRequestedAt)
	check("environment destroyed_at", r.DestroyedAt)
	stacks, err := db.StacksOf(ctx, launched.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stacks) != 2 {
		t.Fatalf("%d stacks, want the first and its replacement", len(stacks))
	}
	for _, st := range stacks {
		check("stack "+st.ID+" created_at", &st.CreatedAt)
		check("stack "+st.ID+" updated_at", &st.UpdatedAt)
		check("stack "+st.ID+" destroyed_at", st.DestroyedAt)
	}
	check("new stack ready_at", stacks[1].ReadyAt)
	check("new stack switched_at", stacks[1].SwitchedAt)
	a, err := db.Activity(ctx, launched.ID)
	if err != nil {
		t.Fatal(err)
	}
	check("activity last_active_at", &a.LastActiveAt)
	check("activity updated_at", &a.UpdatedAt)
	tmpl, err := db.Template(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	check("template created_at", &tmpl.CreatedAt)
	check("template updated_at", &tmpl.UpdatedAt)
	evs, err := db.Events(ctx, launched.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Kind == envs.EventProvider {
			continue // a provider's events carry its own time of them
		}
		check("event "+ev.Message, &ev.At)
	}
}
