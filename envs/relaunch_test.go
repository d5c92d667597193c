package envs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/local"
	"github.com/mayflyhq/mayfly/storage"
)

// vaultTemplate is a replica with plain and secret parameters; versions
// differ in their parameters and who may launch them (see relaunchService).
const vaultTemplate = `name: vault
version: 1.0.0
kind: replica
description: A replica with secrets.
owner: tests
provider: faulty
ttl: {default: 1h, max: 2h}
parameters:
  - name: customer
    type: string
    required: true
  - name: size
    type: int
    default: 3
  - name: password
    type: string
    secret: true
    required: true
  - name: token
    type: string
    secret: true
stack: {}
`

var (
	bob       = envs.Actor{Name: "bob", UserID: "u-bob", Role: envs.RoleMember, Team: "shop", Teams: []string{"shop"}}
	bea       = envs.Actor{Name: "bea", UserID: "u-bea", Role: envs.RoleMember, Team: "shop", Teams: []string{"shop"}}
	carol     = envs.Actor{Name: "carol", UserID: "u-carol", Role: envs.RoleMember, Team: "data", Teams: []string{"data"}}
	erin      = envs.Actor{Name: "erin", UserID: "u-erin", Role: envs.RoleViewer}
	localUser = envs.Actor{Name: "local", Admin: true, Via: "local"}
)

// relaunchService publishes vault 0.9.0 (deprecated), 1.0.0, 1.1.0 (size
// gone, region new) and 1.2.0 (for team shop only), with no job running:
// relaunches are recorded, never provisioned.
func relaunchService(t *testing.T) (*envs.Service, *storage.DB) {
	t.Helper()
	ctx := context.Background()
	db, cipher := openStore(t)
	svc, err := envs.New(envs.Config{Store: db, Providers: []envs.Provider{newFaultyProvider(nil)}, Cipher: cipher})
	if err != nil {
		t.Fatal(err)
	}
	v := func(version string) string {
		return strings.Replace(vaultTemplate, "version: 1.0.0", "version: "+version, 1)
	}
	v110 := strings.Replace(v("1.1.0"), "  - name: size\n    type: int\n    default: 3\n", "  - name: region\n    type: string\n    default: eu\n", 1)
	v120 := strings.Replace(v("1.2.0"), "owner: tests\n", "owner: tests\nteams: [shop]\n", 1)
	for _, src := range []string{v("0.9.0"), vaultTemplate, v110, v120} {
		if _, _, err := svc.Publish(ctx, envs.System, []byte(src)); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Deprecate(ctx, envs.System, "vault", "0.9.0", ""); err != nil {
		t.Fatal(err)
	}
	return svc, db
}

// launchVault launches vault 1.0.0 as who, with both secrets.
func launchVault(t *testing.T, svc *envs.Service, who envs.Actor, name string) *envs.Environment {
	t.Helper()
	e, err := svc.Launch(context.Background(), who, envs.LaunchRequest{Template: "vault", Version: "1.0.0", Name: name, TTL: "90m",
		Params: map[string]any{"customer": "Acme", "size": 5, "password": "hunter2-hunter2", "token": "tok-123456"}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func fieldsOf(err error) []string {
	var out []string
	for _, f := range envs.ErrorFields(err) {
		out = append(out, f.Field)
	}
	slices.Sort(out)
	return out
}

// TestRelaunchRules: what a relaunch takes from its source, what it
// refuses, and who owns the result.
func TestRelaunchRules(t *testing.T) {
	ctx := context.Background()
	svc, db := relaunchService(t)
	src := launchVault(t, svc, bob, "acme")
	if err := db.UpdateEnvironment(ctx, src.ID, storage.EnvironmentUpdate{Status: storage.Set("destroyed")}); err != nil {
		t.Fatal(err)
	}
	live := launchVault(t, svc, bob, "acme-live")
	secrets := map[string]any{"password": "typed-again-1", "token": "typed-again-2"}

	tests := []struct {
		name   string
		actor  envs.Actor
		req    envs.RelaunchRequest
		code   envs.Code // "" for a relaunch that is recorded
		fields []string  // the fields a refusal names, sorted
		says   string
		check  func(t *testing.T, e *envs.Environment)
	}{
		{name: "the owner, as it was", actor: bob, req: envs.RelaunchRequest{Source: src.ID},
			check: func(t *testing.T, e *envs.Environment) {
				if e.Name != "acme" || e.Version != "1.0.0" || e.Params["customer"] != "Acme" || e.Params["size"] != "5" {
					t.Errorf("got %s@%s %v, want acme, 1.0.0 and the source's values", e.Name, e.Version, e.Params)
				}
				if !slices.Equal(e.SecretNames, []string{"password", "token"}) {
					t.Errorf("secrets %v, want both re-used", e.SecretNames)
				}
				if got := e.ExpiresAt.Sub(e.CreatedAt); got.String() != "1h0m0s" {
					t.Errorf("TTL %s, want the version's default 1h", got)
				}
			}},
		{name: "a member of the owner's team must type the secrets again", actor: bea, req: envs.RelaunchRequest{Source: src.ID},
			code: envs.EInvalid, fields: []string{"params.password", "params.token"}, says: "secrets are re-used only for the environment's owner (bob): type it again"},
		{name: "an empty secret is no secret", actor: bea, req: envs.RelaunchRequest{Source: src.ID, Params: map[string]any{"password": "typed-again-1", "token": ""}},
			code: envs.EInvalid, fields: []string{"params.token"}},
		{name: "a member of the team who types them", actor: bea, req: envs.RelaunchRequest{Source: src.ID, Name: "acme-bea", Params: secrets},
			check: func(t *testing.T, e *envs.Environment) {
				if e.Owner != "bea" || e.OwnerID != "u-bea" || e.Team != "shop" {
					t.Errorf("owner %s (%s, %s), want bea: the relauncher owns it", e.Owner, e.OwnerID, e.Team)
				}
			}},
		{name: "overrides", actor: bob, req: envs.RelaunchRequest{Source: src.ID, Name: "globex", TTL: "30m", Params: map[string]any{"customer": "Globex"}},
			check: func(t *testing.T, e *envs.Environment) {
				if e.Name != "globex" || e.Params["customer"] != "Globex" || e.Params["size"] != "5" || e.ExpiresAt.Sub(e.CreatedAt).String() != "30m0s" {
					t.Errorf("got %s %v TTL %s, want the overrides over the source's values", e.Name, e.Params, e.ExpiresAt.Sub(e.CreatedAt))
				}
			}},
		{name: "another version: dropped and new parameters", actor: bob, req: envs.RelaunchRequest{Source: src.ID, Name: "upgraded", Version: "1.1.0"},
			check: func(t *testing.T, e *envs.Environment) {
				if e.Version != "1.1.0" || e.Params["region"] != "eu" || e.Params["size"] != "" || e.Params["customer"] != "Acme" {
					t.Errorf("got %s %v, want 1.1.0 with size dropped and region's default", e.Version, e.Params)
				}
			}},
		{name: "a deprecated version", actor: bob, req: envs.RelaunchRequest{Source: src.ID, Version: "0.9.0"},
			code: envs.EInvalid, fields: []string{"version"}, says: "0.9.0 is deprecated"},
		{name: "a version that does not exist", actor: bob, req: envs.RelaunchRequest{Source: src.ID, Version: "9.9.9"},
			code: envs.EInvalid, fields: []string{"version"}, says: `no version "9.9.9"`},
		{name: "past the maximum TTL", actor: bob, req: envs.RelaunchRequest{Source: src.ID, TTL: "3h"},
			code: envs.EInvalid, fields: []string{"ttl"}},
		{name: "an unknown parameter and a bad value", actor: bob, req: envs.RelaunchRequest{Source: src.ID, Params: map[string]any{"nope": 1, "size": "many"}},
			code: envs.EInvalid, fields: []string{"params.nope", "params.size"}},
		{name: "a name in use", actor: bob, req: envs.RelaunchRequest{Source: src.ID, Name: "acme-live"},
			code: envs.EConflict, fields: []string{"name"}},
		{name: "a live source gets another name", actor: bob, req: envs.RelaunchRequest{Source: live.ID},
			check: func(t *testing.T, e *envs.Environment) {
				if e.Name == live.Name || !strings.HasPrefix(e.Name, "vault-") {
					t.Errorf("name %q, want one drawn for the template while the source lives", e.Name)
				}
			}},
		{name: "a viewer", actor: erin, req: envs.RelaunchRequest{Source: src.ID}, code: envs.EForbidden},
		{name: "a version for other teams", actor: carol, req: envs.RelaunchRequest{Source: src.ID, Version: "1.2.0", Params: secrets},
			code: envs.EForbidden, says: "can only be launched by the teams shop"},
		{name: "an unknown source", actor: bob, req: envs.RelaunchRequest{Source: "env-nope"}, code: envs.ENotFound},
		{name: "the same snapshot of a source that restored none", actor: bob, req: envs.RelaunchRequest{Source: src.ID, SameSnapshot: true},
			code: envs.EInvalid, fields: []string{"same_snapshot"}, says: "recorded no snapshot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := svc.Relaunch(ctx, tt.actor, tt.req)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Relaunch: %v", err)
				}
				if e.RelaunchedFrom != tt.req.Source || e.Status != envs.StatusPending {
					t.Errorf("relaunched from %q, status %s; want %s, pending", e.RelaunchedFrom, e.Status, tt.req.Source)
				}
				tt.check(t, e)
				if _, err := svc.Destroy(ctx, envs.System, e.ID); err != nil { // frees its name
					t.Fatal(err)
				}
				if err := db.UpdateEnvironment(ctx, e.ID, storage.EnvironmentUpdate{Status: storage.Set("destroyed")}); err != nil {
					t.Fatal(err)
				}
				return
			}
			if envs.ErrorCode(err) != tt.code || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("Relaunch: %v, want %s saying %q", err, tt.code, tt.says)
			}
			if got := fieldsOf(err); !slices.Equal(got, tt.fields) {
				t.Errorf("fields %q, want %q", got, tt.fields)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "tok-123456") {
				t.Errorf("the refusal quotes a secret: %v", err)
			}
		})
	}
}

// TestRelaunchLineage: the new environment records its source, each
// timeline says what happened, and the audit log has the relaunch (target
// the new id, detail the source) and the refusals (target the source).
func TestRelaunchLineage(t *testing.T) {
	ctx := context.Background()
	svc, _ := relaunchService(t)
	src := launchVault(t, svc, bob, "acme")
	e, err := svc.Relaunch(ctx, bob, envs.RelaunchRequest{Source: src.ID, Name: "acme-again"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := svc.Environment(ctx, e.ID); got.RelaunchedFrom != src.ID {
		t.Errorf("relaunched_from %q, want %s", got.RelaunchedFrom, src.ID)
	}
	messages := func(id string) []string {
		evs, err := svc.Events(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ev := range evs {
			out = append(out, ev.Message+" by "+ev.Actor)
		}
		return out
	}
	if want := "Relaunched from acme (" + src.ID + "): vault@1.0.0 with a TTL of 1h by bob"; !slices.Contains(messages(e.ID), want) {
		t.Errorf("new timeline %q, want %q", messages(e.ID), want)
	}
	if want := "Relaunched as acme-again (" + e.ID + ") by bob"; !slices.Contains(messages(src.ID), want) {
		t.Errorf("source timeline %q, want %q", messages(src.ID), want)
	}
	if _, err := svc.Relaunch(ctx, bea, envs.RelaunchRequest{Source: src.ID}); err == nil {
		t.Fatal("bea relaunched without typing the secrets")
	}
	audit, err := svc.AuditLog(ctx, envs.System, envs.AuditFilter{Action: "environment.relaunch"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range audit {
		got = append(got, a.Actor+" "+a.Target+" "+a.Result+" "+a.Detail)
	}
	want := []string{"bea " + src.ID + " invalid launch request is not valid", "bob " + e.ID + " ok " + src.ID}
	if !slices.Equal(got, want) {
		t.Errorf("audit %q, want %q", got, want)
	}
}

// TestRelaunchDraft: the form starts from the source's values; secrets are
// offered for re-use to the owner only, and the same snapshot only where
// the provider can restore one.
func TestRelaunchDraft(t *testing.T) {
	ctx := context.Background()
	svc, db := relaunchService(t)
	src := launchVault(t, svc, bob, "acme")
	if err := db.UpdateEnvironment(ctx, src.ID, storage.EnvironmentUpdate{Status: storage.Set("destroyed"), Facts: storage.Set(`{"snapshot":"shop/1"}`)}); err != nil {
		t.Fatal(err)
	}
	own, err := svc.RelaunchDraft(ctx, bob, src.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if own.Name != "acme" || own.Version.Spec.Version != "1.0.0" || own.Params["customer"] != "Acme" || own.Params["size"] != "5" {
		t.Errorf("draft %s@%s %v, want the source's", own.Name, own.Version.Spec.Version, own.Params)
	}
	if _, ok := own.Params["password"]; ok {
		t.Error("the draft carries a secret's value")
	}
	if !slices.Equal(own.ReusedSecrets, []string{"password", "token"}) || len(own.RetypeSecrets) != 0 {
		t.Errorf("owner: re-used %v, retype %v", own.ReusedSecrets, own.RetypeSecrets)
	}
	if own.Snapshot != "" {
		t.Errorf("snapshot %q offered, but the provider cannot restore a given one", own.Snapshot)
	}
	other, err := svc.RelaunchDraft(ctx, bea, src.ID, "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if len(other.ReusedSecrets) != 0 || !slices.Equal(other.RetypeSecrets, []string{"password", "token"}) {
		t.Errorf("team member: re-used %v, retype %v", other.ReusedSecrets, other.RetypeSecrets)
	}
	if other.Params["region"] != "eu" || other.Params["size"] != "" {
		t.Errorf("draft of 1.1.0: %v, want region's default and no size", other.Params)
	}
	if _, err := svc.RelaunchDraft(ctx, erin, src.ID, ""); envs.ErrorCode(err) != envs.EForbidden {
		t.Errorf("a viewer's draft: %v, want forbidden", err)
	}
	// In local mode everyone is the local user, who owns what was launched
	// there: secrets are re-used.
	mine := launchVault(t, svc, localUser, "mine")
	if d, err := svc.RelaunchDraft(ctx, localUser, mine.ID, ""); err != nil || len(d.ReusedSecrets) != 2 {
		t.Errorf("local mode: %v, re-used %v", err, d.ReusedSecrets)
	}
	if _, err := svc.Relaunch(ctx, localUser, envs.RelaunchRequest{Source: mine.ID}); err != nil {
		t.Errorf("local mode relaunch: %v", err)
	}
	if d, _ := svc.RelaunchDraft(ctx, localUser, src.ID, ""); len(d.ReusedSecrets) != 0 {
		t.Errorf("the local user may re-use the secrets of bob's environment: %v", d.ReusedSecrets)
	}
}

const replicaTemplate = `name: replica
version: 1.0.0
kind: replica
description: Restores the latest snapshot of a dataset.
owner: tests
provider: local
ttl: {default: 1h, max: 2h}
stack:
  restore: {snapshot: shop, into: data}
  services:
    - name: web
      command: ["sleep", "300"]
`

// writeSnapshot writes a snapshot of dataset shop as the local provider
// reads it.
func writeSnapshot(t *testing.T, dir, id string, taken time.Time) {
	t.Helper()
	path := filepath.Join(dir, "shop", id)
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`{"dataset": "shop", "id": %q, "taken_at": %q}`, id, taken.UTC().Format(time.RFC3339))
	if err := os.WriteFile(filepath.Join(path, "manifest.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRelaunchFromTheSameSnapshot runs real local stacks: a relaunch from
// the same snapshot restores the source's, not the latest; one gone by
// the time the relaunch is asked for is refused on same_snapshot, and one
// gone by the time its stack is built fails the launch at its first
// attempt, saying so, rather than restore another.
func TestRelaunchFromTheSameSnapshot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := local.New(local.Config{Root: filepath.Join(dir, "stacks"), LogsDir: filepath.Join(dir, "logs"),
		SnapshotsDir: filepath.Join(dir, "snapshots"), Executable: exe, StopGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	t.Cleanup(func() { // after the jobs stopped: nothing starts a stack again
		stacks, _ := p.Stacks(context.Background())
		for _, h := range stacks {
			p.Destroy(context.Background(), h)
		}
	})
	db, cipher := openStore(t)
	svc, err := envs.New(envs.Config{Store: db, Providers: []envs.Provider{p}, Cipher: cipher,
		PollInterval: 20 * time.Millisecond, RetryDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Publish(ctx, envs.System, []byte(replicaTemplate)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	snaps := filepath.Join(dir, "snapshots")
	writeSnapshot(t, snaps, "first", now.Add(-time.Hour))
	startService(t, svc)
	ready := func(id string) *envs.Environment {
		t.Helper()
		e := waitFor(t, svc, id, time.Now().Add(20*time.Second), func(e *envs.Environment) bool {
			return e.Status == envs.StatusReady || e.Status.Terminal()
		})
		if e.Status != envs.StatusReady {
			t.Fatalf("%s: %s (%s), want ready", e.Name, e.Status, e.FailureReason)
		}
		return e
	}
	src, err := svc.Launch(ctx, bob, envs.LaunchRequest{Template: "replica", Name: "src"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ready(src.ID).Facts[envs.FactSnapshotName]; got != "shop/first" {
		t.Fatalf("source restored %q, want shop/first", got)
	}
	writeSnapshot(t, snaps, "second", now)

	latest, err := svc.Relaunch(ctx, bob, envs.RelaunchRequest{Source: src.ID, Name: "latest"})
	if err != nil {
		t.Fatal(err)
	}
	same, err := svc.Relaunch(ctx, bob, envs.RelaunchRequest{Source: src.ID, Name: "same", SameSnapshot: true})
	if err != nil {
		t.Fatal(err)
	}
	if same.PinnedSnapshot != "shop/first" || latest.PinnedSnapshot != "" {
		t.Errorf("pinned %q and %q, want shop/first and none", same.PinnedSnapshot, latest.PinnedSnapshot)
	}
	if got := ready(latest.ID).Facts[envs.FactSnapshotName]; got != "shop/second" {
		t.Errorf("a relaunch restored %q, want the latest shop/second", got)
	}
	if got := ready(same.ID).Facts[envs.FactSnapshotName]; got != "shop/first" {
		t.Errorf("a relaunch from the same snapshot restored %q, want shop/first", got)
	}

	// Gone before the relaunch: refused on same_snapshot.
	if err := os.RemoveAll(filepath.Join(snaps, "shop", "first")); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Relaunch(ctx, bob, envs.RelaunchRequest{Source: src.ID, Name: "refused", SameSnapshot: true})
	want := "snapshot shop/first of dataset shop is gone; relaunch from the latest instead"
	if got := fieldsOf(err); !slices.Equal(got, []string{"same_snapshot"}) || !strings.Contains(err.Error(), want) {
		t.Errorf("relaunch from a snapshot that is gone: %v, want same_snapshot: %s", err, want)
	}

	// Gone after the relaunch was accepted: the launch fails at once.
	writeSnapshot(t, snaps, "first", now.Add(-time.Hour))
	if err := svc.Stop(ctx); err != nil { // no job runs until it is gone again
		t.Fatal(err)
	}
	late, err := svc.Relaunch(ctx, bob, envs.RelaunchRequest{Source: src.ID, Name: "late", SameSnapshot: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(snaps, "shop", "first")); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// A failed launch stays failed while its stack is cleaned up.
	e := waitFor(t, svc, late.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool {
		return e.Status == envs.StatusFailed && e.StackCleanedAt != nil
	})
	if e.FailureReason != want {
		t.Errorf("failure reason %q, want %q", e.FailureReason, want)
	}
	evs, _ := svc.Events(ctx, late.ID, 0)
	for _, ev := range evs {
		if strings.Contains(ev.Message, "retrying") {
			t.Errorf("a gone snapshot was retried: %q", ev.Message)
		}
	}
}
