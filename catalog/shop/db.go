package shop

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// schema is the shop's whole data model. Prices are integer cents so that
// checksums never depend on how a float is printed, and times are RFC 3339
// UTC text so that they sort and compare as strings.
const schema = `
CREATE TABLE IF NOT EXISTS products (
	id          INTEGER PRIMARY KEY,
	sku         TEXT    NOT NULL UNIQUE,
	name        TEXT    NOT NULL,
	category    TEXT    NOT NULL,
	price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
	stock       INTEGER NOT NULL CHECK (stock >= 0)
);
CREATE TABLE IF NOT EXISTS customers (
	id         INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	email      TEXT    NOT NULL,
	city       TEXT    NOT NULL,
	-- featured marks the customer a demo was seeded for (at most one row).
	featured   INTEGER NOT NULL DEFAULT 0 CHECK (featured IN (0, 1)),
	created_at TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
	id          INTEGER PRIMARY KEY,
	customer_id INTEGER NOT NULL REFERENCES customers (id),
	product_id  INTEGER NOT NULL REFERENCES products (id),
	quantity    INTEGER NOT NULL CHECK (quantity > 0),
	total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
	status      TEXT    NOT NULL,
	ordered_at  TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_ordered_at ON orders (ordered_at);
CREATE INDEX IF NOT EXISTS orders_customer_id ON orders (customer_id);
PRAGMA user_version = 1;
`

// timeLayout is how the shop stores times: RFC 3339, UTC, whole seconds.
const timeLayout = "2006-01-02T15:04:05Z"

// Open opens (creating if needed) the shop database at path for reading and
// writing.
func Open(path string) (*sql.DB, error) {
	// busy_timeout: a DR drill runs `verify` while `serve` holds the file
	// open; waiting a few seconds for a lock beats failing with SQLITE_BUSY.
	// journal_mode=WAL: readers and the one writer never block each other,
	// and VACUUM INTO can copy the database while it is being served.
	// synchronous=NORMAL: safe against corruption in WAL mode and much faster
	// for the bulk inserts of seed and make-production.
	// foreign_keys: SQLite does not enforce REFERENCES unless asked to.
	// _txlock=immediate: write transactions take the write lock at BEGIN, so
	// busy_timeout applies instead of a deadlock-avoiding SQLITE_BUSY later.
	return open(path, "_busy_timeout=5000&_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=on&_txlock=immediate")
}

// OpenReadOnly opens an existing shop database without ever writing to it,
// not even to change its journal mode: verify and the checksum of a fresh
// snapshot must see the file exactly as it is.
func OpenReadOnly(path string) (*sql.DB, error) {
	if err := mustExist(path); err != nil {
		return nil, err
	}
	// query_only makes any write fail, which is the point; busy_timeout as in
	// Open, because the file may be in use by serve.
	return open(path, "_busy_timeout=5000&_query_only=on")
}

// openServing opens an existing database for serve: WAL like Open, so that a
// snapshot or verify can read alongside it, but query_only, because the shop
// only displays data and a DR drill verifies the restored rows after the web
// service has started: serving must not change them.
func openServing(path string) (*sql.DB, error) {
	if err := mustExist(path); err != nil {
		return nil, err
	}
	return open(path, "_busy_timeout=5000&_journal_mode=WAL&_query_only=on")
}

func open(path, params string) (*sql.DB, error) {
	if path == "" {
		return nil, errors.New("shop: open database: no path given")
	}
	// The driver cuts a plain file name at the first '?', where its
	// parameters begin, so such a name would open a different file.
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("shop: open database %s: path must not contain '?'", path)
	}
	db, err := sql.Open("sqlite", path+"?"+params)
	if err != nil {
		return nil, fmt.Errorf("shop: open database %s: %w", path, err)
	}
	// sql.Open connects lazily; connect now so a bad path fails here, with
	// the path in the message, rather than on the first query.
	if err := db.PingContext(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("shop: open database %s: %w", path, err)
	}
	return db, nil
}

// mustExist refuses a missing database file: SQLite would silently create an
// empty one, and an empty shop that looks healthy hides the real mistake.
func mustExist(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("shop: database %s does not exist (run seed, make-production or a restore first)", path)
	}
	if err != nil {
		return fmt.Errorf("shop: database %s: %w", path, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("shop: database %s is a directory", path)
	}
	return nil
}

// userTables lists the database's own tables (not SQLite's internal ones) in
// name order.
func userTables(ctx context.Context, q queryer) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_schema
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
		ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("shop: list tables: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("shop: list tables: %w", err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("shop: list tables: %w", err)
	}
	return names, nil
}

// queryer is what *sql.DB and *sql.Tx have in common for reading.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// quoteIdent quotes a table or column name for SQL.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
