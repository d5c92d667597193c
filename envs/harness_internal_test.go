package envs

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/storage"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// The set-up the internal tests share.

// openTestDB opens a migrated database of its own for the test (SQLite,
// or PostgreSQL when storagetest says so), closed when the test ends.
func openTestDB(t *testing.T) *storage.DB {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, storagetest.URL(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return db
}

// runService starts s's jobs and loops until the test ends.
func runService(t *testing.T, s *Service) {
	t.Helper()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
}
