package storage

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
)

// No listing of a page sorts the table: an index serves each order. The
// plans are those of the queries Environments runs.
func TestListingsUseTheirIndexes(t *testing.T) {
	ctx := context.Background()
	db := migratedTestDB(t)
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	prefix := "EXPLAIN QUERY PLAN "
	if db.Dialect() == "postgres" {
		// On an empty table a scan and a sort are cheapest; forbid both to
		// see whether an index can serve the order at all.
		if _, err := conn.ExecContext(ctx, `SET enable_seqscan = off; SET enable_sort = off`); err != nil {
			t.Fatal(err)
		}
		prefix = "EXPLAIN "
	}
	key := &ListKey{CreatedAt: time.Now().UTC(), ID: "x"}
	// check wants query's plan to walk one of indexes without a sort.
	check := func(t *testing.T, query string, indexes ...string) {
		t.Helper()
		plan := explainPlan(t, conn, prefix+query)
		index := strings.Join(indexes, " or ")
		if !slices.ContainsFunc(indexes, func(ix string) bool { return strings.Contains(plan, ix) }) || strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "Sort") {
			t.Errorf("want a walk of %s without a sort:\n%s\n%s", index, query, plan)
		}
	}
	for _, c := range []struct {
		name   string
		filter EnvironmentFilter
		index  string
	}{
		{"every environment", EnvironmentFilter{}, "environments_created"},
		{"undestroyed", EnvironmentFilter{Undestroyed: true}, "environments_undestroyed_created"},
		{"live", EnvironmentFilter{Live: true}, "environments_live_created"},
		{"live, after a cursor", EnvironmentFilter{Live: true, After: key}, "environments_live_created"},
		{"live, by owner and name", EnvironmentFilter{Live: true, Owner: "alice", Search: "shop"}, "environments_live_created"},
		{"one status", EnvironmentFilter{Statuses: []string{"ready"}}, "environments_status_created"},
		{"after a cursor", EnvironmentFilter{After: key}, "environments_created"},
		{"before a cursor", EnvironmentFilter{Before: key}, "environments_created"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.filter.Limit = 51
			query := db.Queries.db.ToSQL(func(tx *gorm.DB) *gorm.DB {
				var rows []map[string]any
				return db.environmentsQuery(tx, c.filter).Find(&rows)
			})
			check(t, query, c.index)
		})
	}
	// The health sweep's pages.
	for _, after := range []*ListKey{nil, key} {
		query := db.Queries.db.ToSQL(func(tx *gorm.DB) *gorm.DB {
			var rows []ReadyStack
			return readyStacksQuery(tx, after, 500).Find(&rows)
		})
		// Either serves the order (PostgreSQL takes the smaller).
		check(t, query, "environments_status_created", "environments_live_created")
	}
	// The reaper's scan keeps off a full scan (two statuses: the order may
	// still need a merge).
	query := db.Queries.db.ToSQL(func(tx *gorm.DB) *gorm.DB {
		var es []Environment
		return expiredQuery(tx, []string{"ready", "pending"}, key.CreatedAt, 500).Find(&es)
	})
	if plan := explainPlan(t, conn, prefix+query); !strings.Contains(plan, "environments_status_expires") {
		t.Errorf("the reaper's scan does not use environments_status_expires:\n%s\n%s", query, plan)
	}
}

// explainPlan is the last column of each row of query (an EXPLAIN).
func explainPlan(t *testing.T, conn *sql.Conn, query string) string {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&plan, vals[len(vals)-1])
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String()
}
