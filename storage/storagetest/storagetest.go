// Package storagetest gives each test its own database, so the whole suite
// runs on SQLite and, when MAYFLY_TEST_DATABASE_URL names a PostgreSQL
// server, on PostgreSQL (make test does both).
package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the PostgreSQL server tests use: a URL whose user may
// create databases. Unset, tests use SQLite.
const EnvVar = "MAYFLY_TEST_DATABASE_URL"

// Postgres reports whether tests run on PostgreSQL.
func Postgres() bool { return os.Getenv(EnvVar) != "" }

// URL returns the database URL for one test: "" (SQLite in the test's data
// directory) on SQLite; on PostgreSQL a database created for this test
// alone and dropped when it ends, so tests stay isolated and may run in
// parallel.
func URL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvVar)
	if admin == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("storagetest: connect to %s: %v", EnvVar, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	name := "mayfly_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("storagetest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("storagetest: connect to drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		// FORCE ends sessions a crashed or killed portal left behind.
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("storagetest: drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("storagetest: %s: %v", EnvVar, err)
	}
	u.Path = "/" + name
	return u.String()
}
