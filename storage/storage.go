// Package storage owns Mayfly's database: opening SQLite or PostgreSQL, the
// embedded migrations, the gorm models, the queries the domain needs and the
// job queue that lives in the same database. It knows nothing about the
// domain's rules.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mayflyhq/mayfly/storage/internal/sqlitedialect"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	msqlite "modernc.org/sqlite" // the pure-Go SQLite driver: the binary builds with CGO_ENABLED=0
)

// Errors the domain maps to its own codes.
var (
	ErrNotFound = errors.New("storage: not found")
	ErrConflict = errors.New("storage: conflict")
)

// DB is an open database with its migrations applied (see Migrate).
type DB struct {
	Queries
	sql     *sql.DB
	dialect string
	// pool is PostgreSQL's connection pool (nil on SQLite): gorm reaches it
	// through sql, the job queue and the environment locks directly.
	pool *pgxpool.Pool
}

// Open opens the database named by url: "" means SQLite at dataDir/mayfly.db,
// "sqlite:///path/to/file.db" or a bare path selects another SQLite file, and
// "postgres://..." (or "postgresql://...") selects PostgreSQL.
func Open(ctx context.Context, url, dataDir string) (*DB, error) {
	if IsPostgres(url) {
		return openPostgres(ctx, url)
	}
	path, err := sqlitePath(url, dataDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("storage: create database directory: %w", err)
	}
	// WAL lets readers proceed while a writer commits. The busy timeout makes
	// a connection wait for a lock instead of failing at once. Foreign keys
	// are off by default in SQLite. _txlock=immediate takes the write lock at
	// BEGIN, so two transactions never deadlock upgrading read locks.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate&_time_format=sqlite"
	connector, err := msqlite.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	// Statements stay compiled on the connection (see stmtcache.go).
	sqlDB := sql.OpenDB(stmtCacheConnector{connector})
	// SQLite allows one writer at a time; River's SQLite driver and gorm share
	// this pool, and a single connection serialises them instead of failing
	// with SQLITE_BUSY. Statements are short, so readers barely wait.
	sqlDB.SetMaxOpenConns(1)
	sqlDB.SetConnMaxLifetime(0)
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	gdb, err := gorm.Open(sqlitedialect.Dialector{DriverName: "sqlite", Conn: sqlDB}, &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true, // every write we make is already in an explicit transaction or a single statement
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("storage: open gorm: %w", err)
	}
	return &DB{Queries: Queries{db: gdb}, sql: sqlDB, dialect: "sqlite"}, nil
}

func sqlitePath(url, dataDir string) (string, error) {
	switch {
	case url == "":
		if dataDir == "" {
			return "", errors.New("storage: no data directory for the SQLite database")
		}
		return filepath.Join(dataDir, "mayfly.db"), nil
	case strings.HasPrefix(url, "sqlite://"):
		return strings.TrimPrefix(url, "sqlite://"), nil
	case strings.Contains(url, "://"):
		return "", fmt.Errorf("storage: unsupported database URL scheme in %q", redact(url))
	default:
		return url, nil
	}
}

// redact hides a password in a URL for error messages.
func redact(url string) string {
	if at := strings.LastIndex(url, "@"); at > 0 {
		if scheme := strings.Index(url, "://"); scheme > 0 && scheme < at {
			return url[:scheme+3] + "***" + url[at:]
		}
	}
	return url
}

// SQL returns the underlying pool, shared with the job queue.
func (db *DB) SQL() *sql.DB { return db.sql }

// Dialect is "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect }

// Close closes the pool.
func (db *DB) Close() error {
	err := db.sql.Close()
	if db.pool != nil {
		db.pool.Close()
	}
	return err
}

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// Tx is a transaction; it offers the same queries as DB. The job queue
// inserts its jobs into the same transaction (see JobQueue.InsertTx), so a
// state change is never recorded without the job that acts on it.
type Tx struct {
	Queries
	sqlTx *sql.Tx // SQLite: the transaction gorm runs in
	pgxTx pgx.Tx  // PostgreSQL: the transaction, on the connection gorm runs on
}

// InTx runs fn in one transaction, committed when fn returns nil.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	if db.pool != nil {
		return db.inPostgresTx(ctx, fn)
	}
	return db.db.WithContext(ctx).Transaction(func(gtx *gorm.DB) error {
		sqlTx, ok := gtx.Statement.ConnPool.(*sql.Tx)
		if !ok {
			return errors.New("storage: transaction without *sql.Tx")
		}
		return fn(&Tx{Queries: Queries{db: gtx}, sqlTx: sqlTx})
	})
}

// Migrate applies Mayfly's migrations and then the job queue's. On
// PostgreSQL, replicas starting together take turns (an advisory lock).
func (db *DB) Migrate(ctx context.Context, log *slog.Logger) error {
	unlock, err := db.lockMigrations(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := migrate(ctx, db.sql, db.dialect, log); err != nil {
		return err
	}
	if err := db.migrateJobQueue(ctx, log); err != nil {
		return fmt.Errorf("storage: job queue migrations: %w", err)
	}
	return nil
}

func (db *DB) migrateJobQueue(ctx context.Context, log *slog.Logger) error {
	if db.pool != nil {
		migrator, err := rivermigrate.New(riverpgxv5.New(db.pool), &rivermigrate.Config{Logger: log})
		if err != nil {
			return err
		}
		_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
		return err
	}
	migrator, err := rivermigrate.New(riversqlite.New(db.sql), &rivermigrate.Config{Logger: log})
	if err != nil {
		return err
	}
	_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

// Migrated reports whether every migration is applied (for /readyz).
func (db *DB) Migrated(ctx context.Context) error {
	applied, err := appliedVersions(ctx, db.sql, db.dialect)
	if err != nil {
		return err
	}
	all, err := migrations(db.dialect)
	if err != nil {
		return err
	}
	for _, m := range all {
		if !applied[m.version] {
			return fmt.Errorf("storage: migration %s not applied", m.name)
		}
	}
	return nil
}

func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}

// RequeueRunningJobs makes jobs left "running" by a process that died
// available again. Only safe when no other process uses the database: a
// SQLite file is used by one portal at a time (the data directory is
// locked), so at start every running job is an orphan of the previous run.
// It returns how many jobs were requeued.
func (db *DB) RequeueRunningJobs(ctx context.Context) (int64, error) {
	if db.dialect != "sqlite" {
		return 0, nil
	}
	res, err := db.sql.ExecContext(ctx, `UPDATE river_job SET state = 'available', scheduled_at = datetime('now', 'subsec') WHERE state = 'running'`)
	if err != nil {
		return 0, fmt.Errorf("storage: requeue running jobs: %w", err)
	}
	return res.RowsAffected()
}
