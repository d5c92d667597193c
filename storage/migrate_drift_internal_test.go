package storage

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestMigration0011GivesOldVersionsTheDefaultDriftPolicy: versions
// published before drift policies are checked daily and remedied by hand,
// and their ready environments have no drift row until the scheduler
// gives them one.
func TestMigration0011GivesOldVersionsTheDefaultDriftPolicy(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	log := slog.New(slog.DiscardHandler)
	if err := migrateUpTo(ctx, db.sql, db.dialect, log, 8); err != nil {
		t.Fatalf("migrate to 0008: %v", err)
	}
	must := func(query string, args ...any) {
		t.Helper()
		if db.dialect == "postgres" {
			for i := 1; strings.Contains(query, "?"); i++ {
				query = strings.Replace(query, "?", fmt.Sprintf("$%d", i), 1)
			}
		}
		if _, err := db.sql.ExecContext(ctx, query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	must(`INSERT INTO templates (name, kind, created_at, updated_at) VALUES ('t', 'demo', ?, ?)`, at, at)
	must(`INSERT INTO template_versions (id, template_name, version, major, minor, patch, digest, kind, provider, default_ttl, max_ttl, params, stack, source, published_at)
		VALUES (1, 't', '1.0.0', 1, 0, 0, 'sha256:a', 'demo', 'local', 1, 2, '[]', '{}', 'x', ?)`, at)
	must(`INSERT INTO environments (id, name, owner, template_name, version, version_id, kind, provider, status, handle, created_at, updated_at, ready_at, expires_at, max_expires_at)
		VALUES ('env-a', 'a', 'o', 't', '1.0.0', 1, 'demo', 'local', 'ready', 'env-a', ?, ?, ?, ?, ?)`, at, at, at, at, at)
	if err := migrate(ctx, db.sql, db.dialect, log); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	v, err := db.VersionByID(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v.DriftInterval != 24*time.Hour || v.DriftRemedy != "manual" {
		t.Errorf("an old version's drift policy: every %s, %q; want 24h, manual", v.DriftInterval, v.DriftRemedy)
	}
	seeds, err := db.DriftSeeds(ctx, 10)
	if err != nil || len(seeds) != 1 || seeds[0].ID != "env-a" || !seeds[0].ReadyAt.Equal(at) {
		t.Errorf("seeds %+v, %v; want the ready environment", seeds, err)
	}
}
