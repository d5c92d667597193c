package storage_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

func openDB(t *testing.T) *storage.DB {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := storage.Open(ctx, "", dir)
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
	if err := db.UpdateEnvironment(ctx, "e1", map[string]any{"status": "destroyed"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateEnvironment(ctx, newEnv("e3", "demo", v)); err != nil {
		t.Errorf("the name of a destroyed environment cannot be reused: %v", err)
	}
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
			ok, err := db.Transition(ctx, "e1", []string{"ready"}, "destroying", nil)
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

func TestExpiredUsesTheIndex(t *testing.T) {
	db := openDB(t)
	rows, err := db.SQL().Query(`EXPLAIN QUERY PLAN SELECT * FROM environments WHERE status IN ('ready','pending') AND expires_at <= ? ORDER BY expires_at LIMIT 500`, time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	plan := ""
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan += detail + "\n"
	}
	if want := "environments_status_expires"; !strings.Contains(plan, want) {
		t.Errorf("the reaper's scan does not use %s:\n%s", want, plan)
	}
}

func TestOpenRefusesOtherDatabases(t *testing.T) {
	_, err := storage.Open(context.Background(), "mysql://x", t.TempDir())
	if err == nil {
		t.Error("opened an unsupported database URL")
	}
}
