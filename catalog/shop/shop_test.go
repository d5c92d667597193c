package shop_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/catalog/shop"
)

var asOf = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// seeded returns the path of a fresh demo database for customer.
func seeded(t *testing.T, customer string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.db")
	db := open(t, path)
	if err := shop.Seed(context.Background(), db, shop.SeedOptions{Customer: customer, Products: 12, Orders: 40, AsOf: asOf}); err != nil {
		t.Fatalf("Seed: %v", err)
	}
	return path
}

func open(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := shop.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func summarize(t *testing.T, db *sql.DB) shop.Summary {
	t.Helper()
	s, err := shop.Summarize(context.Background(), db)
	if err != nil {
		t.Fatalf("Summarize: %v", err)
	}
	return s
}

func wantTables(t *testing.T, got map[string]int64, products, customers, orders int64) {
	t.Helper()
	want := map[string]int64{"products": products, "customers": customers, "orders": orders}
	if len(got) != len(want) {
		t.Errorf("tables = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("tables[%s] = %d, want %d", k, got[k], v)
		}
	}
}

func TestSeed(t *testing.T) {
	t.Run("creates the requested counts", func(t *testing.T) {
		db := open(t, seeded(t, "Acme Corp"))
		wantTables(t, summarize(t, db).Tables, 12, shop.DemoCustomers, 40)
	})

	t.Run("is deterministic and replaces earlier rows", func(t *testing.T) {
		db := open(t, seeded(t, "Acme Corp"))
		first := summarize(t, db)
		other := open(t, seeded(t, "Acme Corp"))
		if got := summarize(t, other).Checksum; got != first.Checksum {
			t.Errorf("second database checksum = %s, want %s", got, first.Checksum)
		}
		// Seeding the same database again (a retried setup step) gives the
		// same rows, not twice as many.
		if err := shop.Seed(context.Background(), db, shop.SeedOptions{Customer: "Acme Corp", Products: 12, Orders: 40, AsOf: asOf}); err != nil {
			t.Fatal(err)
		}
		if got := summarize(t, db).Checksum; got != first.Checksum {
			t.Errorf("reseeded checksum = %s, want %s", got, first.Checksum)
		}
	})

	t.Run("personalises the data", func(t *testing.T) {
		a := summarize(t, open(t, seeded(t, "Acme Corp")))
		b := summarize(t, open(t, seeded(t, "Globex")))
		if a.Checksum == b.Checksum {
			t.Error("two customers got identical data")
		}
		db := open(t, seeded(t, "Initech"))
		var name string
		if err := db.QueryRow(`SELECT name FROM customers WHERE featured = 1`).Scan(&name); err != nil || name != "Initech" {
			t.Errorf("featured customer = %q, %v; want Initech", name, err)
		}
		var n int
		db.QueryRow(`SELECT count(*) FROM products WHERE name LIKE 'Initech%'`).Scan(&n)
		if n == 0 {
			t.Error("no product carries the customer's name")
		}
		// "Initech" is also one of the filler companies; it must not appear
		// twice.
		db.QueryRow(`SELECT count(*) FROM customers WHERE name = 'Initech'`).Scan(&n)
		if n != 1 {
			t.Errorf("customers named Initech = %d, want 1", n)
		}
	})

	t.Run("no orders", func(t *testing.T) {
		db := open(t, filepath.Join(t.TempDir(), "shop.db"))
		if err := shop.Seed(context.Background(), db, shop.SeedOptions{Customer: "Acme", Products: 1, Orders: 0, AsOf: asOf}); err != nil {
			t.Fatal(err)
		}
		wantTables(t, summarize(t, db).Tables, 1, shop.DemoCustomers, 0)
	})

	t.Run("rejects bad options", func(t *testing.T) {
		db := open(t, filepath.Join(t.TempDir(), "shop.db"))
		for _, opts := range []shop.SeedOptions{
			{Customer: "  ", Products: 12, Orders: 40},
			{Customer: "Acme", Products: 0, Orders: 40},
			{Customer: "Acme", Products: 12, Orders: -1},
		} {
			if err := shop.Seed(context.Background(), db, opts); err == nil {
				t.Errorf("Seed(%+v) succeeded, want an error", opts)
			}
		}
	})
}

func TestMakeProduction(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "prod.db"))
	start := time.Now()
	if err := shop.MakeProduction(context.Background(), db, shop.ProductionOptions{Seed: 7, AsOf: asOf}); err != nil {
		t.Fatalf("MakeProduction: %v", err)
	}
	took := time.Since(start)
	t.Logf("MakeProduction took %s", took)
	if took > 5*time.Second { // the target is well under 2s; leave room for -race
		t.Errorf("MakeProduction took %s", took)
	}
	s := summarize(t, db)
	wantTables(t, s.Tables, shop.ProductionProducts, shop.ProductionCustomers, shop.ProductionOrders)

	var distinct int
	db.QueryRow(`SELECT count(DISTINCT name) FROM customers`).Scan(&distinct)
	if distinct != shop.ProductionCustomers {
		t.Errorf("distinct customer names = %d, want %d", distinct, shop.ProductionCustomers)
	}
}

func TestSnapshotAndVerify(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 30, 15, 123456789, time.UTC)
	src := seeded(t, "Acme Corp")
	db := open(t, src)
	datasetDir := filepath.Join(t.TempDir(), "demo-data")

	m, err := shop.Snapshot(ctx, db, datasetDir, shop.SnapshotOptions{Now: now})
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	dir := filepath.Join(datasetDir, "20260302T093015Z")

	t.Run("writes the manifest", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(dir, shop.ManifestFile))
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Dataset string `json:"dataset"`
			ID      string `json:"id"`
			TakenAt string `json:"taken_at"`
			Files   map[string]struct {
				SHA256 string `json:"sha256"`
				Size   int64  `json:"size"`
			} `json:"files"`
			Tables   map[string]int64 `json:"tables"`
			Checksum string           `json:"checksum"`
		}
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("manifest is not JSON: %v\n%s", err, raw)
		}
		if got.Dataset != "demo-data" || got.ID != "20260302T093015Z" || got.TakenAt != "2026-03-02T09:30:15Z" {
			t.Errorf("dataset, id, taken_at = %q, %q, %q", got.Dataset, got.ID, got.TakenAt)
		}
		fi, err := os.Stat(filepath.Join(dir, shop.DBFile))
		if err != nil {
			t.Fatal(err)
		}
		f := got.Files["shop.db"]
		if len(f.SHA256) != 64 || f.Size != fi.Size() {
			t.Errorf("files[shop.db] = %+v, file size %d", f, fi.Size())
		}
		wantTables(t, got.Tables, 12, shop.DemoCustomers, 40)
		if !strings.HasPrefix(got.Checksum, "sha256:") || got.Checksum != m.Checksum {
			t.Errorf("checksum = %q, returned manifest has %q", got.Checksum, m.Checksum)
		}
		if want := summarize(t, db).Checksum; got.Checksum != want {
			t.Errorf("checksum = %s, source database has %s", got.Checksum, want)
		}
	})

	t.Run("leaves no temporary directory", func(t *testing.T) {
		entries, _ := os.ReadDir(datasetDir)
		if len(entries) != 1 || entries[0].Name() != "20260302T093015Z" {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("dataset dir holds %v, want just the snapshot", names)
		}
	})

	t.Run("holds just the copy and the manifest", func(t *testing.T) {
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if strings.Join(names, " ") != "manifest.json shop.db" {
			t.Errorf("snapshot dir holds %v, want manifest.json and shop.db", names)
		}
	})

	t.Run("refuses an existing id", func(t *testing.T) {
		if _, err := shop.Snapshot(ctx, db, datasetDir, shop.SnapshotOptions{Now: now}); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Errorf("second Snapshot err = %v, want already exists", err)
		}
	})

	// restored copies the snapshot's database somewhere else, as the local
	// provider's restore step does.
	restored := func(t *testing.T) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, shop.DBFile))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "shop.db")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	verify := func(t *testing.T, path string) shop.VerifyResult {
		t.Helper()
		vdb, err := shop.OpenReadOnly(path)
		if err != nil {
			t.Fatal(err)
		}
		defer vdb.Close()
		res, err := shop.Verify(ctx, vdb, m)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		return res
	}

	t.Run("a restored copy verifies, even in WAL mode", func(t *testing.T) {
		path := restored(t)
		open(t, path).Close() // switches the file to WAL: new bytes, same rows
		res := verify(t, path)
		if !res.OK() {
			t.Fatalf("mismatches: %v", res.Mismatches)
		}
		if res.Summary.Rows() != 12+shop.DemoCustomers+40 {
			t.Errorf("rows = %d", res.Summary.Rows())
		}
	})

	tamper := []struct {
		name, sql, table string
	}{
		{"a deleted order", `DELETE FROM orders WHERE id = 7`, "table orders"},
		{"a changed price", `UPDATE products SET price_cents = price_cents + 1 WHERE id = 3`, "table products"},
		{"a renamed customer", `UPDATE customers SET name = 'Mallory' WHERE id = 2`, "table customers"},
		{"an extra table", `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`, "table notes"},
	}
	for _, tc := range tamper {
		t.Run(tc.name+" fails verify naming the table", func(t *testing.T) {
			path := restored(t)
			tdb := open(t, path)
			if _, err := tdb.Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			tdb.Close()
			res := verify(t, path)
			if res.OK() {
				t.Fatal("verify passed")
			}
			if !strings.Contains(strings.Join(res.Mismatches, "\n"), tc.table) {
				t.Errorf("mismatches %q do not name %q", res.Mismatches, tc.table)
			}
		})
	}
}

func TestLatestSnapshot(t *testing.T) {
	ctx := context.Background()
	db := open(t, seeded(t, "Acme Corp"))
	datasetDir := filepath.Join(t.TempDir(), "ds")

	if _, _, err := shop.LatestSnapshot(datasetDir); err == nil {
		t.Fatal("LatestSnapshot of a missing dir succeeded")
	}
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, d := range []int{2, 5, 3} {
		if _, err := shop.Snapshot(ctx, db, datasetDir, shop.SnapshotOptions{Now: day.AddDate(0, 0, d)}); err != nil {
			t.Fatal(err)
		}
	}
	// A half-written snapshot, as a crash would leave it, is ignored.
	os.MkdirAll(filepath.Join(datasetDir, ".tmp-20270101T000000Z-1"), 0o755)

	dir, m, err := shop.LatestSnapshot(datasetDir)
	if err != nil {
		t.Fatal(err)
	}
	if want := "20260106T000000Z"; m.ID != want || filepath.Base(dir) != want {
		t.Errorf("latest = %s (%s), want %s", m.ID, dir, want)
	}
}

func TestEnsureProductionSnapshot(t *testing.T) {
	dataDir, snapshotsDir := t.TempDir(), t.TempDir()
	now := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

	created, err := shop.EnsureProductionSnapshot(dataDir, snapshotsDir, now)
	if err != nil || !created {
		t.Fatalf("first call: created %v, err %v; want true, nil", created, err)
	}
	dir, m, err := shop.LatestSnapshot(filepath.Join(snapshotsDir, "shop-production"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Dataset != "shop-production" || m.ID != "20260401T120000Z" || !m.TakenAt.Equal(now) {
		t.Errorf("manifest dataset, id, taken_at = %s, %s, %s", m.Dataset, m.ID, m.TakenAt)
	}
	wantTables(t, m.Tables, shop.ProductionProducts, shop.ProductionCustomers, shop.ProductionOrders)
	if _, err := os.Stat(filepath.Join(dataDir, "production", "shop.db")); err != nil {
		t.Errorf("production database: %v", err)
	}

	t.Run("does nothing the second time", func(t *testing.T) {
		created, err := shop.EnsureProductionSnapshot(dataDir, snapshotsDir, now.Add(time.Hour))
		if err != nil || created {
			t.Fatalf("second call: created %v, err %v; want false, nil", created, err)
		}
		dir2, _, _ := shop.LatestSnapshot(filepath.Join(snapshotsDir, "shop-production"))
		if dir2 != dir {
			t.Errorf("latest snapshot moved from %s to %s", dir, dir2)
		}
	})

	t.Run("snapshots the existing production database", func(t *testing.T) {
		other := t.TempDir()
		created, err := shop.EnsureProductionSnapshot(dataDir, other, now.Add(2*time.Hour))
		if err != nil || !created {
			t.Fatalf("created %v, err %v; want true, nil", created, err)
		}
		_, m2, err := shop.LatestSnapshot(filepath.Join(other, "shop-production"))
		if err != nil {
			t.Fatal(err)
		}
		if m2.Checksum != m.Checksum {
			t.Errorf("checksum %s, want the same data as before (%s)", m2.Checksum, m.Checksum)
		}
	})
}

// run runs a sample-app command line and returns its exit code and output.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = shop.Run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "work", "data", "shop.db") // seed creates the directory
	datasets := filepath.Join(dir, "snapshots", "demo")

	code, out, errs := run(t, "seed", "--db", db, "--customer", "Acme Corp", "--products", "5", "--with-orders=false")
	if code != 0 || !strings.Contains(out, "5 products") || !strings.Contains(out, "0 orders") {
		t.Fatalf("seed: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, errs = run(t, "snapshot", "--db", db, "--dataset-dir", datasets, "--id", "first")
	if code != 0 || !strings.Contains(out, "demo/first") {
		t.Fatalf("snapshot: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	manifest := filepath.Join(datasets, "first", "manifest.json")

	code, out, errs = run(t, "verify", "--db", db, "--manifest", manifest)
	if want := "verified 13 rows in 3 tables, checksum sha256:"; code != 0 || !strings.HasPrefix(out, want) || !strings.HasSuffix(out, " matches\n") {
		t.Errorf("verify: exit %d, stdout %q, stderr %q; want 0 and %q...", code, out, errs, want)
	}

	code, out, errs = run(t, "make-production", "--db", filepath.Join(dir, "prod.db"))
	if code != 0 || !strings.Contains(out, "5000 orders") {
		t.Errorf("make-production: exit %d, stdout %q, stderr %q", code, out, errs)
	}

	t.Run("verify fails on a tampered database", func(t *testing.T) {
		sdb := open(t, db)
		if _, err := sdb.Exec(`UPDATE products SET price_cents = 1 WHERE id = 2`); err != nil {
			t.Fatal(err)
		}
		sdb.Close()
		code, out, errs := run(t, "verify", "--db", db, "--manifest", manifest)
		if code != 1 || out != "" || !strings.Contains(errs, "table products") {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1 and stderr naming table products", code, out, errs)
		}
	})

	usage := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "usage:"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"missing flags", []string{"seed", "--db", db}, "missing --customer"},
		{"unknown flag", []string{"verify", "--nope"}, "flag provided but not defined"},
		{"bad theme", []string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--theme", "pink"}, "--theme"},
		{"stray argument", []string{"make-production", "--db", db, "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range usage {
		t.Run(tc.name+" is a usage error", func(t *testing.T) {
			code, _, errs := run(t, tc.args...)
			if code != 2 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errs, tc.want)
			}
		})
	}

	t.Run("a missing database is named", func(t *testing.T) {
		missing := filepath.Join(dir, "nope.db")
		code, _, errs := run(t, "verify", "--db", missing, "--manifest", manifest)
		if code != 1 || !strings.Contains(errs, missing) || !strings.Contains(errs, "does not exist") {
			t.Errorf("exit %d, stderr %q", code, errs)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Error("verify created the missing database")
		}
	})

	t.Run("help", func(t *testing.T) {
		if code, out, _ := run(t, "help"); code != 0 || !strings.Contains(out, "make-production") {
			t.Errorf("exit %d, stdout %q", code, out)
		}
	})
}
