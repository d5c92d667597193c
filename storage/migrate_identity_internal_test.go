package storage

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestMigration0007KeepsUsersAndTheirRows fills a database in the schema of
// migration 0006 (users unique by subject, with sessions and API tokens
// referencing them, environments owned by a name), migrates it, and checks
// that every row survived with its references, that foreign keys still
// hold, that users are now unique by (issuer, subject) and that owner ids
// were filled only where the name was unambiguous. On SQLite this is the
// table rebuild under deferred foreign keys; on PostgreSQL the constraint
// changes in place.
func TestMigration0007KeepsUsersAndTheirRows(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	log := slog.New(slog.DiscardHandler)
	if err := migrateUpTo(ctx, db.sql, db.dialect, log, 6); err != nil {
		t.Fatalf("migrate to 0006: %v", err)
	}
	exec := func(query string, args ...any) error {
		if db.dialect == "postgres" {
			for i := 1; strings.Contains(query, "?"); i++ {
				query = strings.Replace(query, "?", fmt.Sprintf("$%d", i), 1)
			}
		}
		_, err := db.sql.ExecContext(ctx, query, args...)
		return err
	}
	must := func(query string, args ...any) {
		t.Helper()
		if err := exec(query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	login := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, u := range [][4]string{
		{"usr-ada", "sub-ada", "ada@example.com", "admin"},
		{"usr-bob", "sub-bob", "", "member"}, // no e-mail: known by subject
		{"usr-dup1", "sub-dup1", "dup@example.com", "member"},
		{"usr-dup2", "sub-dup2", "dup@example.com", "viewer"},
	} {
		must(`INSERT INTO users (id, subject, email, name, groups_json, role, teams, created_at, last_login_at) VALUES (?, ?, ?, '', '[]', ?, '', ?, ?)`,
			u[0], u[1], u[2], u[3], login, login)
	}
	must(`INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) VALUES ('h-ada', 'usr-ada', 'c', ?, ?, ?)`,
		login, login, login.Add(time.Hour))
	must(`INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, created_at) VALUES ('tok-ada', 'usr-ada', 'ci', 'th-ada', 'mfy_', ?)`, login)
	must(`INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, created_at) VALUES ('tok-dup2', 'usr-dup2', 'ci', 'th-dup2', 'mfy_', ?)`, login)
	must(`INSERT INTO templates (name, kind, created_at, updated_at) VALUES ('t', 'demo', ?, ?)`, login, login)
	must(`INSERT INTO template_versions (id, template_name, version, major, minor, patch, digest, kind, provider, default_ttl, max_ttl, params, stack, source, published_at)
		VALUES (1, 't', '1.0.0', 1, 0, 0, 'sha256:a', 'demo', 'local', 1, 2, '[]', '{}', 'x', ?)`, login)
	for _, e := range [][2]string{{"env-ada", "ada@example.com"}, {"env-bob", "sub-bob"}, {"env-dup", "dup@example.com"}, {"env-local", "local"}} {
		must(`INSERT INTO environments (id, name, owner, template_name, version, version_id, kind, provider, status, created_at, updated_at, expires_at, max_expires_at)
			VALUES (?, ?, ?, 't', '1.0.0', 1, 'demo', 'local', 'ready', ?, ?, ?, ?)`, e[0], e[0], e[1], login, login, login, login)
	}

	if err := migrate(ctx, db.sql, db.dialect, log); err != nil {
		t.Fatalf("migrate 0007: %v", err)
	}

	var users []User
	if err := db.db.Order("id").Find(&users).Error; err != nil {
		t.Fatal(err)
	}
	if len(users) != 4 {
		t.Fatalf("%d users after the migration, want 4", len(users))
	}
	for _, u := range users {
		if u.Issuer != "" || u.ConfirmedAt == nil || !u.ConfirmedAt.Equal(login) || u.CreatedAt.IsZero() {
			t.Errorf("user %s after the migration: issuer %q, confirmed %v, created %v; want no issuer, confirmed at the last sign-in",
				u.ID, u.Issuer, u.ConfirmedAt, u.CreatedAt)
		}
	}
	if s, err := db.Session(ctx, "h-ada"); err != nil || s.UserID != "usr-ada" {
		t.Errorf("ada's session after the migration: %+v, %v", s, err)
	}
	for id, role := range map[string]string{"tok-ada": "admin", "tok-dup2": "viewer"} {
		if tok, err := db.APIToken(ctx, id); err != nil || tok.Role != role {
			t.Errorf("token %s after the migration: %+v, %v; want capped at its owner's role %s", id, tok, err, role)
		}
	}
	for id, want := range map[string]string{"env-ada": "usr-ada", "env-bob": "usr-bob", "env-dup": "", "env-local": ""} {
		e, err := db.Environment(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if e.OwnerID != want {
			t.Errorf("%s (owner %q): owner id %q, want %q", id, e.Owner, e.OwnerID, want)
		}
	}
	// Foreign keys still hold: a session of nobody is refused.
	if err := exec(`INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) VALUES ('h-x', 'usr-nobody', 'c', ?, ?, ?)`,
		login, login, login); err == nil {
		t.Error("a session of an unknown user was accepted after the migration: foreign keys are off")
	}
	if db.dialect == "sqlite" {
		rows, err := db.sql.QueryContext(ctx, `PRAGMA foreign_key_check`)
		if err != nil {
			t.Fatal(err)
		}
		if rows.Next() {
			t.Error("PRAGMA foreign_key_check reports violations after the migration")
		}
		rows.Close()
	}

	// The first sign-in from an issuer adopts the row of its subject; the
	// same subject at another issuer is someone else.
	now := time.Now().UTC()
	ada := &User{ID: "usr-new", Issuer: "https://idp.example", Subject: "sub-ada", Email: "ada@example.com", Role: "admin",
		GroupsJSON: "[]", CreatedAt: now, LastLoginAt: now, ConfirmedAt: &now}
	if err := db.UpsertUser(ctx, ada); err != nil {
		t.Fatal(err)
	}
	if ada.ID != "usr-ada" || ada.Issuer != "https://idp.example" {
		t.Errorf("first sign-in of sub-ada: id %s issuer %q, want the existing usr-ada adopted", ada.ID, ada.Issuer)
	}
	other := &User{ID: "usr-other", Issuer: "https://other.example", Subject: "sub-ada", Role: "viewer",
		GroupsJSON: "[]", CreatedAt: now, LastLoginAt: now}
	if err := db.UpsertUser(ctx, other); err != nil {
		t.Fatal(err)
	}
	if other.ID != "usr-other" {
		t.Errorf("sub-ada at another issuer: id %s, want a user of its own", other.ID)
	}
	var n int64
	if err := db.db.Model(&User{}).Where("subject = ?", "sub-ada").Count(&n).Error; err != nil || n != 2 {
		t.Errorf("users with subject sub-ada: %d, %v; want 2", n, err)
	}
	if err := exec(`INSERT INTO users (id, issuer, subject, role, created_at, last_login_at) VALUES ('usr-twin', 'https://idp.example', 'sub-ada', 'admin', ?, ?)`,
		now, now); err == nil {
		t.Error("a second user with the same issuer and subject was accepted")
	}
}
