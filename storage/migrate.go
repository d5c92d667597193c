package storage

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded migrations of a dialect in order. Files are
// named NNNN_description.sql; the number is the version.
func migrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("storage: read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("storage: migration %s: name must start with a number and _", name)
		}
		body, err := fs.ReadFile(migrationFS, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("storage: read migration %s: %w", name, err)
		}
		out = append(out, migration{version: version, name: name, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrationsTable records applied migrations; the type of applied_at is the
// dialect's timestamp type.
func migrationsTable(dialect string) string {
	timestamp := "DATETIME"
	if dialect == "postgres" {
		timestamp = "TIMESTAMPTZ"
	}
	return `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at ` + timestamp + ` NOT NULL
)`
}

func appliedVersions(ctx context.Context, db *sql.DB, dialect string) (map[int]bool, error) {
	if _, err := db.ExecContext(ctx, migrationsTable(dialect)); err != nil {
		return nil, fmt.Errorf("storage: create migrations table: %w", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("storage: read applied migrations: %w", err)
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("storage: read applied migrations: %w", err)
		}
		applied[v] = true
	}
	return applied, rows.Err()
}

// migrate applies every migration not yet recorded, each in its own
// transaction together with its record, so a failed migration leaves the
// schema as it was.
func migrate(ctx context.Context, db *sql.DB, dialect string, log *slog.Logger) error {
	return migrateUpTo(ctx, db, dialect, log, 0)
}

// migrateUpTo is migrate stopping after version upTo (0: every version);
// tests use it to fill a database in an older schema before migrating it.
func migrateUpTo(ctx context.Context, db *sql.DB, dialect string, log *slog.Logger, upTo int) error {
	all, err := migrations(dialect)
	if err != nil {
		return err
	}
	applied, err := appliedVersions(ctx, db, dialect)
	if err != nil {
		return err
	}
	record := `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`
	if dialect == "postgres" {
		record = `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`
	}
	for _, m := range all {
		if applied[m.version] {
			continue
		}
		if upTo > 0 && m.version > upTo {
			break
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("storage: migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			tx.Rollback()
			return fmt.Errorf("storage: migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, record, m.version, m.name, time.Now().UTC()); err != nil {
			tx.Rollback()
			return fmt.Errorf("storage: record migration %s: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("storage: migration %s: %w", m.name, err)
		}
		log.Info("applied migration", "migration", m.name)
	}
	return nil
}
