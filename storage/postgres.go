package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// IsPostgres reports whether a database URL selects PostgreSQL.
func IsPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// defaultPoolSize is the most connections one replica opens when the URL
// does not say (pool_max_conns=N). Each of the default 20 running jobs may
// hold one for its environment's lock (LockEnvironment) and use a second
// for its queries; River keeps one for LISTEN and its producer and
// maintenance take a few more; 50 leaves room for requests. Connections
// open on demand, so an idle replica holds few. Several replicas multiply
// it: keep replicas x pool size under the server's max_connections.
const defaultPoolSize = 50

// openPostgres opens one pgx pool that everything shares: gorm through
// database/sql (stdlib.OpenDBFromPool), River's pgx driver and the advisory
// locks directly. One pool means one place to size and one place to close.
func openPostgres(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("storage: parse PostgreSQL URL %s: %w", redact(url), err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultPoolSize
	}
	// A server restart or a dropped connection leaves dead connections in
	// the pool; checking a connection idle for a while before handing it
	// out turns that into a reconnect instead of a failed request.
	cfg.HealthCheckPeriod = 15 * time.Second
	// Times are stored as TIMESTAMPTZ and read back as UTC instants whatever
	// the server's or the role's default time zone.
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.ConnConfig.RuntimeParams["application_name"] = "mayfly"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", redact(url), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("storage: open %s: %w", redact(url), err)
	}
	sqlDB := stdlib.OpenDBFromPool(pool)
	gdb, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true, // every write we make is already in an explicit transaction or a single statement
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		sqlDB.Close()
		pool.Close()
		return nil, fmt.Errorf("storage: open gorm: %w", err)
	}
	return &DB{Queries: Queries{db: gdb, lockForEvents: true, postgres: true}, sql: sqlDB, dialect: "postgres", pool: pool}, nil
}

// inPostgresTx runs fn in one PostgreSQL transaction that gorm and River
// share. It takes one connection out of database/sql, begins a pgx
// transaction on the very same connection (reached with Conn.Raw), and runs
// gorm on that connection: the server sees one session in one transaction,
// so gorm's writes and River's job inserts commit or roll back together.
func (db *DB) inPostgresTx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("storage: begin: %w", err)
	}
	// Returning a connection with a transaction still open makes pgx
	// discard it (stdlib's ResetSession), so an early return cannot leak
	// a half-done transaction into the pool.
	defer conn.Close()
	var pc *pgx.Conn
	if err := conn.Raw(func(driverConn any) error {
		c, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("storage: unexpected driver connection %T", driverConn)
		}
		pc = c.Conn()
		return nil
	}); err != nil {
		return err
	}
	// pc stays in use after Raw returns. That is safe here because this
	// function owns conn until it returns and uses it from one goroutine:
	// gorm's statements and River's never overlap.
	ptx, err := pc.Begin(ctx)
	if err != nil {
		return fmt.Errorf("storage: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = ptx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
	}()
	gtx := db.db.Session(&gorm.Session{NewDB: true, Context: ctx})
	gtx.Statement.ConnPool = conn
	if err := fn(&Tx{Queries: Queries{db: gtx, lockForEvents: true, postgres: true}, pgxTx: ptx}); err != nil {
		if rerr := ptx.Rollback(context.WithoutCancel(ctx)); rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
			return errors.Join(err, fmt.Errorf("storage: rollback: %w", rerr))
		}
		return err
	}
	if err := ptx.Commit(ctx); err != nil {
		return fmt.Errorf("storage: commit: %w", err)
	}
	return nil
}

// Advisory lock keys: one 64-bit space per database, so each use hashes a
// prefixed name.
const (
	migrationsLockKey = "mayfly:migrations"
	environmentLock   = "mayfly:environment:"
)

// lockMigrations makes replicas starting together migrate one at a time.
// SQLite needs nothing: one process uses the file (the data directory lock).
func (db *DB) lockMigrations(ctx context.Context) (func(), error) {
	if db.pool == nil {
		return func() {}, nil
	}
	return db.advisoryLock(ctx, migrationsLockKey)
}

// LockEnvironment serialises work on one environment across every replica
// sharing the database, until the returned function is called. On
// PostgreSQL it is a session advisory lock held on its own connection: if
// the replica dies, the server ends the session and the lock is released
// with it. On SQLite only one process uses the database (the data directory
// is locked), so callers' in-process locking is enough and this is a no-op.
func (db *DB) LockEnvironment(ctx context.Context, id string) (func(), error) {
	if db.pool == nil {
		return func() {}, nil
	}
	return db.advisoryLock(ctx, environmentLock+id)
}

func (db *DB) advisoryLock(ctx context.Context, key string) (func(), error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("storage: lock %s: %w", key, err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, key); err != nil {
		conn.Release()
		return nil, fmt.Errorf("storage: lock %s: %w", key, err)
	}
	return func() {
		// Unlock even when the caller's context is done; a connection that
		// cannot unlock is closed, which releases the lock too.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key); err != nil {
			_ = conn.Hijack().Close(ctx)
			return
		}
		conn.Release()
	}, nil
}

// Pool is PostgreSQL's connection pool, nil on SQLite.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }
