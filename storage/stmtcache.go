package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"
)

// SQLite compiles every statement before running it, and gorm and River's
// SQLite driver run their queries without preparing them: the profile of a
// saturated launch run put a third of the process's CPU in SQLite's parser,
// on the one connection that every write waits for (River's job insert and
// completion queries are long). stmtCacheConnector wraps the SQLite driver so
// that each connection keeps its statements, keyed by their text, compiled
// for the next call: a query or exec with the same text binds and steps the
// compiled statement (SQLite recompiles it by itself after a schema change).
//
// A cached statement serves one call at a time: while its rows are open, the
// same text runs uncached. Texts longer than stmtCacheMaxText (multi-row
// inserts whose text varies with their size) and texts beyond
// stmtCacheEntries are never cached, so the cache stays small.
const (
	stmtCacheEntries = 256
	stmtCacheMaxText = 4096
)

type stmtCacheConnector struct{ driver.Connector }

func (c stmtCacheConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(sqliteConn)
	if !ok {
		return conn, nil // not the driver this was written for: no cache
	}
	return &cachingConn{sqliteConn: inner, stmts: map[string]*cachedStmt{}}, nil
}

// sqliteConn is what modernc.org/sqlite's connections implement and what
// database/sql uses of them.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// statement is what a prepared modernc.org/sqlite statement implements.
type statement interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// sqliteRows is what modernc.org/sqlite's rows implement; gorm reads the
// column types.
type sqliteRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

type cachedStmt struct {
	stmt statement
	busy bool // its rows are open
}

// cachingConn is one SQLite connection with its compiled statements.
// database/sql uses a connection from one goroutine at a time, but rows may
// be closed from another, hence the mutex.
type cachingConn struct {
	sqliteConn
	mu    sync.Mutex
	stmts map[string]*cachedStmt
}

// take returns the compiled statement for query, compiling it if need be,
// marked busy; nil when it cannot be used (busy, too long, cache full).
func (c *cachingConn) take(ctx context.Context, query string) (*cachedStmt, error) {
	if len(query) > stmtCacheMaxText {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cs, ok := c.stmts[query]
	if ok {
		if cs.busy {
			return nil, nil
		}
		cs.busy = true
		return cs, nil
	}
	if len(c.stmts) >= stmtCacheEntries {
		return nil, nil
	}
	ds, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(statement)
	if !ok {
		ds.Close()
		return nil, nil
	}
	cs = &cachedStmt{stmt: st, busy: true}
	c.stmts[query] = cs
	return cs, nil
}

func (c *cachingConn) release(cs *cachedStmt) {
	c.mu.Lock()
	cs.busy = false
	c.mu.Unlock()
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	defer c.release(cs)
	return cs.stmt.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	r, err := cs.stmt.QueryContext(ctx, args)
	if err != nil {
		c.release(cs)
		return nil, err
	}
	sr, ok := r.(sqliteRows)
	if !ok {
		r.Close()
		c.release(cs)
		return nil, errors.New("storage: unexpected rows type from the SQLite driver")
	}
	return &cachedRows{sqliteRows: sr, conn: c, stmt: cs}, nil
}

// Close finalizes the connection's statements, then closes it.
func (c *cachingConn) Close() error {
	c.mu.Lock()
	for q, cs := range c.stmts {
		cs.stmt.Close()
		delete(c.stmts, q)
	}
	c.mu.Unlock()
	return c.sqliteConn.Close()
}

// cachedRows hands its statement back when closed (the driver resets it).
type cachedRows struct {
	sqliteRows
	conn   *cachingConn
	stmt   *cachedStmt
	closed bool
}

func (r *cachedRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.sqliteRows.Close()
	r.conn.release(r.stmt)
	return err
}
