package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

func TestUpsertUserKeepsItsID(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	now := time.Now().UTC()
	first := &storage.User{ID: "usr-1", Issuer: "https://idp", Subject: "sub", Email: "a@x", Role: "member", GroupsJSON: "[]", CreatedAt: now, LastLoginAt: now}
	if err := db.UpsertUser(ctx, first); err != nil {
		t.Fatal(err)
	}
	again := &storage.User{ID: "usr-2", Issuer: "https://idp", Subject: "sub", Email: "b@x", Role: "admin", GroupsJSON: "[]", CreatedAt: now, LastLoginAt: now.Add(time.Hour)}
	if err := db.UpsertUser(ctx, again); err != nil {
		t.Fatal(err)
	}
	if again.ID != "usr-1" || again.Email != "b@x" || again.Role != "admin" {
		t.Errorf("second sign-in = %+v, want id usr-1 with the new e-mail and role", again)
	}
}

// TestUserCheckIsClaimedOnce: of two callers re-checking the same stale
// user, one gets the claim; its outcome is recorded only while it holds
// the claim, and a fresh confirmation makes the next claim wait for the
// interval.
func TestUserCheckIsClaimedOnce(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	u := &storage.User{ID: "usr-1", Issuer: "https://idp", Subject: "sub", Role: "admin", GroupsJSON: "[]",
		CreatedAt: t0, LastLoginAt: t0, ConfirmedAt: &t0, CheckAt: &t0, CheckResult: "ok"}
	if err := db.UpsertUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(16 * time.Minute)
	stale, tried := now.Add(-15*time.Minute), now.Add(-30*time.Second)
	claim := func(name string, at time.Time) bool {
		t.Helper()
		ok, err := db.ClaimUserCheck(ctx, "usr-1", name, stale, tried, at, at.Add(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim("a", now) {
		t.Fatal("the first claim of a stale user failed")
	}
	if claim("b", now) {
		t.Error("a second claim succeeded while the first was live")
	}
	if ok, err := db.FinishUserCheck(ctx, "usr-1", "b", storage.UserCheckUpdate{Role: storage.Set("viewer")}); err != nil || ok {
		t.Errorf("finish without the claim: %v, %v; want refused", ok, err)
	}
	if ok, err := db.FinishUserCheck(ctx, "usr-1", "a", storage.UserCheckUpdate{Role: storage.Set("member"), ConfirmedAt: storage.At(now), CheckAt: storage.At(now)}); err != nil || !ok {
		t.Fatalf("finish with the claim: %v, %v", ok, err)
	}
	got, err := db.User(ctx, "usr-1")
	if err != nil || got.Role != "member" || got.CheckClaim != "" || got.CheckClaimUntil != nil {
		t.Fatalf("after the check: %+v, %v; want role member and no claim", got, err)
	}
	if claim("c", now.Add(time.Second)) {
		t.Error("a user confirmed a second ago was claimed for a check")
	}
	// A claim whose holder died runs out.
	later := now.Add(16 * time.Minute)
	stale, tried = later.Add(-15*time.Minute), later.Add(-30*time.Second)
	if !claim("d", later) || !claim("e", later.Add(31*time.Second)) {
		t.Error("a claim that ran out was not taken over")
	}
}

func TestLoginStateIsTakenOnce(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	if err := db.SaveLoginState(ctx, &storage.LoginState{State: "s", Nonce: "n", Verifier: "v", CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	got, err := db.TakeLoginState(ctx, "s")
	if err != nil || got.Nonce != "n" || got.Verifier != "v" {
		t.Fatalf("first take = %+v, %v", got, err)
	}
	if _, err := db.TakeLoginState(ctx, "s"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second take: %v, want ErrNotFound", err)
	}
}

func TestAuditSearch(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []int64
	for i, e := range []storage.AuditEntry{
		{Actor: "ada", Action: "environment.launch", Target: "env-1", Result: "ok"},
		{Actor: "bob", Action: "environment.destroy", Target: "env-1", Result: "forbidden"},
		{Actor: "bob", Action: "auth.signin", Result: "ok"},
		{Actor: "bob", Action: "environment_x", Result: "ok"}, // "_" must not act as a LIKE wildcard
	} {
		e.At = t0.Add(time.Duration(i) * time.Hour)
		if err := db.Audit(ctx, &e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	since := t0.Add(90 * time.Minute)
	tests := []struct {
		name string
		f    storage.AuditFilter
		want []string // actions, newest first
	}{
		{"action prefix", storage.AuditFilter{Action: "environment."}, []string{"environment.destroy", "environment.launch"}},
		{"actor and result", storage.AuditFilter{Actor: "bob", Result: "forbidden"}, []string{"environment.destroy"}},
		{"target", storage.AuditFilter{Target: "env-1"}, []string{"environment.destroy", "environment.launch"}},
		{"since", storage.AuditFilter{Since: &since}, []string{"environment_x", "auth.signin"}},
		{"until", storage.AuditFilter{Until: &since}, []string{"environment.destroy", "environment.launch"}},
		{"next page", storage.AuditFilter{Before: ids[2], Limit: 1}, []string{"environment.destroy"}},
		{"previous page", storage.AuditFilter{After: ids[0], Limit: 2}, []string{"auth.signin", "environment.destroy"}},
		{"previous page, filtered", storage.AuditFilter{After: ids[0], Actor: "bob", Limit: 5}, []string{"environment_x", "auth.signin", "environment.destroy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.AuditSearch(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range got {
				actions = append(actions, e.Action)
			}
			if len(actions) != len(tt.want) {
				t.Fatalf("got %v, want %v", actions, tt.want)
			}
			for i := range actions {
				if actions[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", actions, tt.want)
				}
			}
		})
	}
}
