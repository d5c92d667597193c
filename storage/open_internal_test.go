package storage

import (
	"context"
	"log/slog"
	"testing"

	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// openTestDB opens a fresh database (SQLite, or PostgreSQL under
// .ci/with-postgres) with no migration applied, closed when t ends.
func openTestDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), storagetest.URL(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// migratedTestDB is openTestDB with every migration applied.
func migratedTestDB(t *testing.T) *DB {
	t.Helper()
	db := openTestDB(t)
	if err := db.Migrate(context.Background(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}
