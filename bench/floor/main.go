// Command floor is the benchmark's floor for Mayfly's pages (issue 15): the
// API's first page of environments served with nothing but net/http,
// database/sql and encoding/json — the same indexed read (newest first by
// (created_at, id), 50 rows, the columns the API shows) and the same JSON
// encoding, without Mayfly's router, middleware, domain or templates. The
// bench runs it as its own process on the database it seeded for Mayfly and
// compares each of Mayfly's paths with it by server CPU per request: what
// Mayfly adds on top of the work no implementation can avoid.
//
//	floor -addr 127.0.0.1:0 -sqlite DATA/mayfly.db
//	floor -addr 127.0.0.1:0 -postgres postgres://...
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	_ "modernc.org/sqlite"             // driver "sqlite"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8099", "listen address")
	sqlitePath := flag.String("sqlite", "", "SQLite database file")
	pgURL := flag.String("postgres", "", "PostgreSQL URL")
	flag.Parse()
	db, postgres, err := open(*sqlitePath, *pgURL)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	stmt, err := db.Prepare(listQuery(postgres))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := db.PingContext(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /environments", func(w http.ResponseWriter, r *http.Request) {
		limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
		if err != nil || limit < 1 || limit > 200 {
			limit = 50
		}
		page, err := list(r.Context(), stmt, limit)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(page)
	})
	log.Fatal(http.ListenAndServe(*addr, mux))
}

func open(sqlitePath, pgURL string) (*sql.DB, bool, error) {
	switch {
	case pgURL != "":
		db, err := sql.Open("pgx", pgURL)
		return db, true, err
	case sqlitePath != "":
		// The pragmas Mayfly's storage opens SQLite with.
		db, err := sql.Open("sqlite", "file:"+sqlitePath+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_time_format=sqlite")
		if err == nil {
			db.SetMaxOpenConns(1)
		}
		return db, false, err
	}
	return nil, false, errors.New("floor: -sqlite or -postgres is required")
}

// environment holds what the API's listing shows of one environment.
type environment struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Owner       string            `json:"owner"`
	Team        string            `json:"team,omitempty"`
	Template    string            `json:"template"`
	Version     string            `json:"version"`
	Kind        string            `json:"kind"`
	Provider    string            `json:"provider"`
	Status      string            `json:"status"`
	Params      map[string]any    `json:"params"`
	Outputs     map[string]string `json:"outputs"`
	CreatedAt   time.Time         `json:"created_at"`
	ReadyAt     *time.Time        `json:"ready_at,omitempty"`
	ExpiresAt   time.Time         `json:"expires_at"`
	DestroyedAt *time.Time        `json:"destroyed_at,omitempty"`
}

type page struct {
	Items []environment `json:"items"`
	Next  string        `json:"next,omitempty"`
}

func listQuery(postgres bool) string {
	q := "SELECT id, name, owner, team, template_name, version, kind, provider, status, params, outputs, " +
		"created_at, ready_at, expires_at, destroyed_at FROM environments ORDER BY created_at DESC, id DESC LIMIT "
	if postgres {
		return q + "$1"
	}
	return q + "?"
}

func list(ctx context.Context, stmt *sql.Stmt, limit int) (*page, error) {
	rows, err := stmt.QueryContext(ctx, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	p := &page{Items: make([]environment, 0, limit)}
	for rows.Next() {
		var e environment
		var params, outputs string
		var created, expires dbTime
		var ready, destroyed dbTime
		if err := rows.Scan(&e.ID, &e.Name, &e.Owner, &e.Team, &e.Template, &e.Version, &e.Kind, &e.Provider, &e.Status,
			&params, &outputs, &created, &ready, &expires, &destroyed); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(params), &e.Params); err != nil {
			return nil, fmt.Errorf("params of %s: %w", e.ID, err)
		}
		if err := json.Unmarshal([]byte(outputs), &e.Outputs); err != nil {
			return nil, fmt.Errorf("outputs of %s: %w", e.ID, err)
		}
		e.CreatedAt, e.ExpiresAt = created.t, expires.t
		e.ReadyAt, e.DestroyedAt = ready.ptr(), destroyed.ptr()
		p.Items = append(p.Items, e)
	}
	if n := len(p.Items); n == limit {
		p.Next = p.Items[n-1].ID
	}
	return p, rows.Err()
}

// dbTime scans a timestamp as either database returns it: a time.Time, or
// SQLite's text form; NULL leaves it zero.
type dbTime struct{ t time.Time }

func (d *dbTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		d.t = time.Time{}
	case time.Time:
		d.t = v
	case string:
		return d.parse(v)
	case []byte:
		return d.parse(string(v))
	default:
		return fmt.Errorf("timestamp: unexpected %T", v)
	}
	return nil
}

func (d *dbTime) parse(s string) error {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			d.t = t
			return nil
		}
	}
	return fmt.Errorf("timestamp: cannot parse %q", s)
}

func (d dbTime) ptr() *time.Time {
	if d.t.IsZero() {
		return nil
	}
	return &d.t
}
