package storage_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/mayflyhq/mayfly/storage"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

func openDB(t *testing.T) *storage.DB {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := storage.Open(ctx, storagetest.URL(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

func seedVersion(t *testing.T, db *storage.DB) *storage.TemplateVersion {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	if err := db.SaveTemplate(ctx, &storage.Template{Name: "t", Kind: "demo", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	v := &storage.TemplateVersion{TemplateName: "t", Version: "1.0.0", Major: 1, Digest: "sha256:a", Kind: "demo",
		Provider: "local", DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour, Params: "[]", Stack: "{}", Source: "x", PublishedAt: now}
	if err := db.CreateVersion(ctx, v); err != nil {
		t.Fatal(err)
	}
	return v
}

func newEnv(id, name string, v *storage.TemplateVersion) *storage.Environment {
	now := time.Now().UTC()
	return &storage.Environment{ID: id, Name: name, Owner: "o", TemplateName: "t", Version: "1.0.0", VersionID: v.ID,
		Kind: "demo", Provider: "local", Params: "{}", Status: "ready", Outputs: "{}", Facts: "{}",
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour), MaxExpiresAt: now.Add(2 * time.Hour)}
}

func TestMigrateIsIdempotent(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	if err := db.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if err := db.Migrated(ctx); err != nil {
		t.Errorf("Migrated: %v", err)
	}
}

func TestCreateVersionConflict(t *testing.T) {
	db := openDB(t)
	v := seedVersion(t, db)
	dup := *v
	dup.ID = 0
	dup.Digest = "sha256:b"
	if err := db.CreateVersion(context.Background(), &dup); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("err = %v, want ErrConflict", err)
	}
}

func TestLiveNamesAreUnique(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	v := seedVersion(t, db)
	if err := db.CreateEnvironment(ctx, newEnv("e1", "demo", v)); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateEnvironment(ctx, newEnv("e2", "demo", v)); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("second live environment with the same name: err = %v, want ErrConflict", err)
	}
	if err := db.UpdateEnvironment(ctx, "e1", storage.EnvironmentUpdate{Status: storage.Set("destroyed")}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateEnvironment(ctx, newEnv("e3", "demo", v)); err != nil {
		t.Errorf("the name of a destroyed environment cannot be reused: %v", err)
	}
	// A failed launch (and one on its way out) stays listed, but its name
	// is free for the next try; the failed one cannot come back to life
	// under it, so two of them never clash.
	for i, status := range []string{"failed", "destroying", "destroy_failed"} {
		if err := db.UpdateEnvironment(ctx, "e3", storage.EnvironmentUpdate{Status: storage.Set(status)}); err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("e%d", 4+i)
		if err := db.CreateEnvironment(ctx, newEnv(id, "demo", v)); err != nil {
			t.Errorf("the name of a %s environment cannot be reused: %v", status, err)
		}
		if err := db.UpdateEnvironment(ctx, id, storage.EnvironmentUpdate{Status: storage.Set("destroyed")}); err != nil {
			t.Fatal(err)
		}
	}
}

// A failed launch keeps its status while its stack is cleaned up; the
// queries that close it check the stack is gone, and its progress lines
// go into the timeline only while it is provisioning.
func TestFailedLaunchQueries(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	v := seedVersion(t, db)
	e := newEnv("e1", "broken", v)
	e.Status = "failed"
	if err := db.CreateEnvironment(ctx, e); err != nil {
		t.Fatal(err)
	}
	closeIt := func() bool {
		t.Helper()
		ok, err := db.TransitionStackCleaned(ctx, "e1", []string{"failed"}, "destroyed", storage.EnvironmentUpdate{UpdatedAt: storage.Set(time.Now().UTC())})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if closeIt() {
		t.Fatal("a failed launch whose stack is not cleaned up was closed")
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := db.UpdateEnvironment(ctx, "e1", storage.EnvironmentUpdate{StackCleanedAt: storage.At(now), StackHeldUntil: storage.At(now.Add(-time.Minute))}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Environment(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	if got.StackCleanedAt == nil || !got.StackCleanedAt.Equal(now) || got.StackHeldUntil == nil || !got.StackHeldUntil.Equal(now.Add(-time.Minute)) {
		t.Errorf("stack_cleaned_at %v, stack_held_until %v; want %s and a minute before", got.StackCleanedAt, got.StackHeldUntil, now)
	}
	if !closeIt() {
		t.Error("a failed launch whose stack is cleaned up was not closed")
	}
	if closeIt() {
		t.Error("closed twice")
	}

	t.Run("progress lines only while provisioning", func(t *testing.T) {
		p := newEnv("e2", "building", v)
		p.Status = "provisioning"
		if err := db.CreateEnvironment(ctx, p); err != nil {
			t.Fatal(err)
		}
		add := func(msg string) bool {
			t.Helper()
			ok, err := db.AddEventWhile(ctx, &storage.Event{EnvironmentID: "e2", At: time.Now().UTC(), Kind: "provider", Message: msg},
				[]string{"pending", "provisioning"})
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !add("setup: seed started") {
			t.Error("a provisioning environment's progress was dropped")
		}
		if ok, err := db.Transition(ctx, "e2", []string{"provisioning"}, "destroying", storage.EnvironmentUpdate{DestroyRequestedAt: storage.At(time.Now().UTC())}); err != nil || !ok {
			t.Fatalf("destroy: %v %v", ok, err)
		}
		if add("service web started") {
			t.Error("progress after the destroy request was recorded")
		}
		for msg, want := range map[string]bool{"setup: seed started": true, "service web started": false} {
			if has, err := db.HasEvent(ctx, "e2", "provider", msg); err != nil || has != want {
				t.Errorf("HasEvent(%q) = %v, %v; want %v", msg, has, err, want)
			}
		}
		for id, want := range map[string]bool{"e2": true, "e1": false, "nope": false} {
			if got, err := db.DestroyRequested(ctx, id); err != nil || got != want {
				t.Errorf("DestroyRequested(%s) = %v, %v; want %v", id, got, err, want)
			}
		}
	})
}

func TestTransitionHappensOnce(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	v := seedVersion(t, db)
	if err := db.CreateEnvironment(ctx, newEnv("e1", "demo", v)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := db.Transition(ctx, "e1", []string{"ready"}, "destroying", storage.EnvironmentUpdate{})
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d transitions won, want exactly 1", won)
	}
	e, err := db.Environment(ctx, "e1")
	if err != nil || e.Status != "destroying" {
		t.Errorf("status = %v %v", e, err)
	}
}

// Environment listings page through (created_at, id), newest first, ties
// broken by id; Before walks back to the newer ones.
func TestEnvironmentPagesFollowTheKey(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	v := seedVersion(t, db)
	base := time.Now().UTC().Truncate(time.Microsecond)
	// e0..e5, newest last; e2 and e3 were created in the same instant.
	for i, at := range []time.Duration{0, time.Second, 2 * time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second} {
		e := newEnv(fmt.Sprintf("e%d", i), fmt.Sprintf("n%d", i), v)
		e.CreatedAt = base.Add(at)
		if i == 4 {
			e.Status = "destroyed"
		}
		if err := db.CreateEnvironment(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(es []storage.Environment) string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return strings.Join(out, ",")
	}
	key := func(e storage.Environment) *storage.ListKey {
		return &storage.ListKey{CreatedAt: e.CreatedAt, ID: e.ID}
	}
	for _, c := range []struct {
		name   string
		filter storage.EnvironmentFilter
		pages  []string
	}{
		{"every environment", storage.EnvironmentFilter{Limit: 2}, []string{"e5,e4", "e3,e2", "e1,e0", ""}},
		{"undestroyed", storage.EnvironmentFilter{Limit: 2, Undestroyed: true}, []string{"e5,e3", "e2,e1", "e0", ""}},
		{"one status", storage.EnvironmentFilter{Limit: 4, Statuses: []string{"ready"}}, []string{"e5,e3,e2,e1", "e0", ""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := c.filter
			var pages [][]storage.Environment
			for _, want := range c.pages {
				got, err := db.Environments(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if ids(got) != want {
					t.Fatalf("page %d: got %q, want %q", len(pages)+1, ids(got), want)
				}
				if len(got) == 0 {
					break
				}
				pages = append(pages, got)
				f.After = key(got[len(got)-1])
			}
			// Back from the last page: Before its first row gives the page before.
			f.After = nil
			f.Before = key(pages[len(pages)-1][0])
			got, err := db.Environments(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if want := ids(pages[len(pages)-2]); ids(got) != want {
				t.Errorf("page before the last: got %q, want %q", ids(got), want)
			}
		})
	}
}

func TestOpenRefusesOtherDatabases(t *testing.T) {
	_, err := storage.Open(context.Background(), "mysql://x", t.TempDir())
	if err == nil {
		t.Error("opened an unsupported database URL")
	}
}

func TestTransitionExpiredLosesToAnExtension(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	v := seedVersion(t, db)
	e := newEnv("e1", "demo", v)
	now := time.Now().UTC().Truncate(time.Microsecond)
	e.ExpiresAt = now.Add(-time.Second)
	if err := db.CreateEnvironment(ctx, e); err != nil {
		t.Fatal(err)
	}
	// The reaper saw it expired; the owner extends it before the reaper acts.
	ok, err := db.ExtendEnvironment(ctx, "e1", []string{"ready"}, e.ExpiresAt, now.Add(time.Hour), now)
	if err != nil || !ok {
		t.Fatalf("extend: %v %v", ok, err)
	}
	ok, err = db.TransitionExpired(ctx, "e1", []string{"ready"}, "destroying", now, storage.EnvironmentUpdate{})
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error("the reaper destroyed an environment extended since it looked")
	}
	ok, err = db.TransitionExpired(ctx, "e1", []string{"ready"}, "destroying", now.Add(2*time.Hour), storage.EnvironmentUpdate{})
	if err != nil || !ok {
		t.Errorf("expired at its new expiry: %v %v, want true", ok, err)
	}
}

func TestExpireDueMovesOnlyWhatIsDueOnce(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	v := seedVersion(t, db)
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i, c := range []struct {
		status  string
		expires time.Duration
		cleaned bool
	}{{"ready", -3 * time.Second, false}, {"pending", -2 * time.Second, false}, {"ready", -time.Second, false}, {"ready", time.Hour, false},
		{"destroyed", -time.Hour, false}, {"failed", -4 * time.Second, true}, {"failed", -5 * time.Second, false}} {
		e := newEnv(fmt.Sprintf("e%d", i), fmt.Sprintf("n%d", i), v)
		e.Status, e.ExpiresAt = c.status, now.Add(c.expires)
		if c.cleaned {
			e.StackCleanedAt = &now
		}
		if err := db.CreateEnvironment(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	live := []string{"pending", "provisioning", "ready"}
	updates := storage.EnvironmentUpdate{DestroyRequestedAt: storage.At(now), UpdatedAt: storage.Set(now)}

	t.Run("a failed launch goes by its stack", func(t *testing.T) {
		got, err := db.ExpireDue(ctx, []string{"failed"}, storage.StackCleaned, "destroyed", now, 10, updates)
		if err != nil || len(got) != 1 || got[0].ID != "e5" {
			t.Fatalf("without a stack: got %+v, %v; want e5", got, err)
		}
		got, err = db.ExpireDue(ctx, []string{"failed"}, storage.WithStack, "destroying", now, 10, updates)
		if err != nil || len(got) != 1 || got[0].ID != "e6" {
			t.Fatalf("with a stack: got %+v, %v; want e6", got, err)
		}
	})
	t.Run("oldest expiry first, up to the limit", func(t *testing.T) {
		got, err := db.ExpireDue(ctx, live, storage.WithStack, "destroying", now, 2, updates)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != "e0" && got[1].ID != "e0" || got[0].ID != "e1" && got[1].ID != "e1" {
			t.Fatalf("got %+v, want e0 and e1", got)
		}
		for _, e := range got {
			if e.Name == "" || e.ExpiresAt.IsZero() {
				t.Errorf("returned row %+v lacks its name or expiry", e)
			}
		}
	})
	t.Run("an environment extended since is left alone", func(t *testing.T) {
		ok, err := db.ExtendEnvironment(ctx, "e2", []string{"ready"}, now.Add(-time.Second), now.Add(time.Hour), now)
		if err != nil || !ok {
			t.Fatalf("extend: %v %v", ok, err)
		}
		got, err := db.ExpireDue(ctx, live, storage.WithStack, "destroying", now, 10, updates)
		if err != nil || len(got) != 0 {
			t.Errorf("got %+v, %v; want nothing due", got, err)
		}
	})
	for id, want := range map[string]string{"e0": "destroying", "e1": "destroying", "e2": "ready", "e3": "ready", "e4": "destroyed",
		"e5": "destroyed", "e6": "destroying"} {
		e, err := db.Environment(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if e.Status != want {
			t.Errorf("%s is %s, want %s", id, e.Status, want)
		}
	}
}

func TestAddEventsSetsIDs(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	v := seedVersion(t, db)
	for _, id := range []string{"a", "b"} {
		if err := db.CreateEnvironment(ctx, newEnv(id, id, v)); err != nil {
			t.Fatal(err)
		}
	}
	evs := []storage.Event{{EnvironmentID: "b", At: time.Now().UTC(), Kind: "status", Message: "one"},
		{EnvironmentID: "a", At: time.Now().UTC(), Kind: "status", Message: "two"}}
	if err := db.InTx(ctx, func(tx *storage.Tx) error { return tx.AddEvents(ctx, evs) }); err != nil {
		t.Fatal(err)
	}
	if evs[0].ID == 0 || evs[1].ID <= evs[0].ID {
		t.Errorf("ids %d, %d: want increasing ids", evs[0].ID, evs[1].ID)
	}
	got, err := db.Events(ctx, "a", 0, 0)
	if err != nil || len(got) != 1 || got[0].Message != "two" {
		t.Errorf("events of a = %+v, %v", got, err)
	}
}

type testJobArgs struct {
	N int `json:"n"`
}

func (testJobArgs) Kind() string { return "test" }

func countJobs(t *testing.T, db *storage.DB) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'test'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestJobsCommitAndRollBackWithTheirTransaction(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	v := seedVersion(t, db)
	queue, err := db.NewJobQueue(&river.Config{}) // no workers: insert only
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = db.InTx(ctx, func(tx *storage.Tx) error {
		if err := tx.CreateEnvironment(ctx, newEnv("e1", "one", v)); err != nil {
			return err
		}
		if err := queue.InsertTx(ctx, tx, testJobArgs{N: 1}, nil); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want boom", err)
	}
	if _, err := db.Environment(ctx, "e1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a rolled back environment exists: %v", err)
	}
	if n := countJobs(t, db); n != 0 {
		t.Errorf("%d jobs of a rolled back transaction exist, want 0", n)
	}

	err = db.InTx(ctx, func(tx *storage.Tx) error {
		if err := tx.CreateEnvironment(ctx, newEnv("e2", "two", v)); err != nil {
			return err
		}
		return queue.InsertTx(ctx, tx, testJobArgs{N: 2}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Environment(ctx, "e2"); err != nil {
		t.Errorf("committed environment: %v", err)
	}
	if n := countJobs(t, db); n != 1 {
		t.Errorf("%d jobs after a commit, want 1", n)
	}
}

func TestLockEnvironmentExcludesOtherHolders(t *testing.T) {
	db := openDB(t)
	if db.Dialect() != "postgres" {
		t.Skip("on SQLite one process uses the database and the lock is in-process (envs)")
	}
	ctx := context.Background()
	unlock, err := db.LockEnvironment(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	// Another "replica" (another session) cannot take it...
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if u, err := db.LockEnvironment(short, "e1"); err == nil {
		u()
		t.Fatal("two holders of one environment's lock")
	}
	// ...but can take another environment's.
	u2, err := db.LockEnvironment(ctx, "e2")
	if err != nil {
		t.Fatal(err)
	}
	u2()
	got := make(chan error, 1)
	go func() {
		u, err := db.LockEnvironment(ctx, "e1")
		if err == nil {
			u()
		}
		got <- err
	}()
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Errorf("lock after unlock: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the lock was not released")
	}
}

func TestOpenPostgresErrorHidesThePassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Port 1 on loopback: nothing listens, the connection is refused at once.
	_, err := storage.Open(ctx, "postgres://mayfly:hunter2@127.0.0.1:1/mayfly?connect_timeout=5", t.TempDir())
	if err == nil {
		t.Fatal("opened a PostgreSQL server that does not exist")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error shows the password: %v", err)
	}
}

// A follower reads a timeline by id (events after the last id it saw), so
// no event may become visible while one with a lower id is uncommitted.
func TestTimelineIDsFollowCommitOrder(t *testing.T) {
	db := openDB(t)
	if db.Dialect() != "postgres" {
		t.Skip("SQLite commits one transaction at a time: ids follow commit order by construction")
	}
	ctx := context.Background()
	v := seedVersion(t, db)
	if err := db.CreateEnvironment(ctx, newEnv("e1", "demo", v)); err != nil {
		t.Fatal(err)
	}
	later := make(chan error, 1)
	err := db.InTx(ctx, func(tx *storage.Tx) error {
		first := &storage.Event{EnvironmentID: "e1", At: time.Now().UTC(), Kind: "status", Message: "first"}
		if err := tx.AddEvent(ctx, first); err != nil {
			return err
		}
		go func() {
			later <- db.AddEvent(ctx, &storage.Event{EnvironmentID: "e1", At: time.Now().UTC(), Kind: "provider", Message: "second"})
		}()
		// Wait until the second writer has either finished or is waiting
		// for the first one's lock.
		deadline := time.Now().Add(5 * time.Second)
		for {
			var waiting int
			if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
				return err
			}
			if waiting > 0 || len(later) > 0 {
				break
			}
			if time.Now().After(deadline) {
				return errors.New("the second writer neither finished nor waited")
			}
			time.Sleep(10 * time.Millisecond)
		}
		visible, err := db.Events(ctx, "e1", 0, 0)
		if err != nil {
			return err
		}
		if len(visible) > 0 {
			t.Errorf("event %d (%s) is visible while event %d is uncommitted: a follower past it would never see %d",
				visible[0].ID, visible[0].Message, first.ID, first.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-later; err != nil {
		t.Fatal(err)
	}
	evs, err := db.Events(ctx, "e1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Message != "first" || evs[1].Message != "second" {
		t.Errorf("timeline = %+v, want first then second", evs)
	}
}

// The owning team is written when the entry is created and changed only
// on purpose: saving the descriptive fields again keeps it.
func TestTemplateOwnerTeam(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	now := time.Now().UTC()
	save := func(owner string) {
		t.Helper()
		if err := db.SaveTemplate(ctx, &storage.Template{Name: "t", Kind: "demo", Owner: owner, OwnerTeam: owner, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	owner := func() (string, string) {
		t.Helper()
		tpl, err := db.Template(ctx, "t")
		if err != nil {
			t.Fatal(err)
		}
		return tpl.Owner, tpl.OwnerTeam
	}
	save("shop")
	save("data")
	if o, team := owner(); o != "data" || team != "shop" {
		t.Errorf("after saving again: owner %q, team %q; want data, shop", o, team)
	}
	if err := db.SetTemplateOwnerTeam(ctx, "t", "data", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	if _, team := owner(); team != "data" {
		t.Errorf("team %q after SetTemplateOwnerTeam, want data", team)
	}
}

// TestRelaunchColumns: what a relaunch records (its source, the snapshot it
// must restore) is read back by the single read and by listings alike, and
// an ordinary launch has neither.
func TestRelaunchColumns(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	v := seedVersion(t, db)
	if err := db.CreateEnvironment(ctx, newEnv("e1", "first", v)); err != nil {
		t.Fatal(err)
	}
	again := newEnv("e2", "again", v)
	again.RelaunchedFrom, again.PinnedSnapshot = "e1", "shop-production/20261123T101500Z"
	if err := db.CreateEnvironment(ctx, again); err != nil {
		t.Fatal(err)
	}
	one, err := db.Environment(ctx, "e2")
	if err != nil {
		t.Fatal(err)
	}
	listed, err := db.Environments(ctx, storage.EnvironmentFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]storage.Environment{"read": *one}
	for _, e := range listed {
		got["listed "+e.ID] = e
	}
	for where, want := range map[string][2]string{"read": {"e1", again.PinnedSnapshot}, "listed e2": {"e1", again.PinnedSnapshot}, "listed e1": {"", ""}} {
		if e := got[where]; e.RelaunchedFrom != want[0] || e.PinnedSnapshot != want[1] {
			t.Errorf("%s: relaunched from %q, pinned snapshot %q; want %q, %q", where, e.RelaunchedFrom, e.PinnedSnapshot, want[0], want[1])
		}
	}
}
