package envs_test

import (
	"context"
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

// appTemplate is a local stack of one long-running process; versions
// differ in their parameters (see replaceService).
const appTemplate = `name: app
version: 1.0.0
kind: demo
description: One process.
owner: tests
provider: local
ttl: {default: 1h, max: 2h}
parameters:
  - {name: greeting, type: string, default: hi}
  - {name: size, type: int, default: 3}
  - {name: token, type: string, secret: true}
stack:
  services:
    - name: web
      command: ["sleep", "300"]
      outputs:
        url: "http://127.0.0.1:{{.Port}}/{{.Params.greeting}}"
`

// replaceService runs real local stacks of app 1.0.0; 1.1.0 drops size
// and adds color, which has no default; 1.2.0's setup fails; 1.3.0 keeps
// no old stack (rollback.grace 0s); 1.4.0's setup takes ten minutes.
func replaceService(t *testing.T, cfg envs.Config) (*envs.Service, *local.Provider) {
	t.Helper()
	svc, p, _ := replaceServiceDB(t, cfg)
	return svc, p
}

// replaceServiceDB is replaceService that also returns its database.
func replaceServiceDB(t *testing.T, cfg envs.Config) (*envs.Service, *local.Provider, *storage.DB) {
	t.Helper()
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
	cfg.Store, cfg.Providers, cfg.Cipher = db, []envs.Provider{p}, cipher
	cfg.PollInterval, cfg.RetryDelay = 20*time.Millisecond, 10*time.Millisecond
	cfg.ProvisionAttempts = cmpOr(cfg.ProvisionAttempts, 1)
	svc, err := envs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v := func(version string) string {
		return strings.Replace(appTemplate, "version: 1.0.0", "version: "+version, 1)
	}
	v110 := strings.Replace(v("1.1.0"), "  - {name: size, type: int, default: 3}\n", "  - {name: color, type: string, required: true}\n", 1)
	v120 := strings.Replace(v("1.2.0"), "stack:\n", "stack:\n  setup:\n    - {name: migrate, command: [\"false\"]}\n", 1)
	v130 := strings.Replace(v("1.3.0"), "stack:\n", "rollback: {grace: 0s}\nstack:\n", 1)
	v140 := strings.Replace(v("1.4.0"), "stack:\n", "stack:\n  setup:\n    - {name: slow, command: [\"sleep\", \"600\"], timeout: 15m}\n", 1)
	for _, src := range []string{appTemplate, v110, v120, v130, v140} {
		if _, _, err := svc.Publish(ctx, envs.System, []byte(src)); err != nil {
			t.Fatal(err)
		}
	}
	startService(t, svc)
	return svc, p, db
}

func waitReady(t *testing.T, svc *envs.Service, id string) *envs.Environment {
	t.Helper()
	e := waitFor(t, svc, id, time.Now().Add(30*time.Second), func(e *envs.Environment) bool {
		return e.Status == envs.StatusReady || e.Status.Terminal()
	})
	if e.Status != envs.StatusReady {
		t.Fatalf("%s: %s (%s), want ready", e.Name, e.Status, e.FailureReason)
	}
	return e
}

// waitReplaced waits for the latest replace to end, in state want.
func waitReplaced(t *testing.T, svc *envs.Service, id, want string) *envs.Environment {
	t.Helper()
	e := waitFor(t, svc, id, time.Now().Add(30*time.Second), func(e *envs.Environment) bool {
		return e.Replace != nil && e.Replace.State != envs.ReplaceBuilding
	})
	if e.Replace.State != want {
		t.Fatalf("replace %s -> %s ended %s (%q), want %s", e.Replace.FromVersion, e.Replace.ToVersion, e.Replace.State, e.Replace.Reason, want)
	}
	return e
}

func stackOf(e *envs.Environment, id string) envs.StackRecord {
	for _, st := range e.Stacks {
		if st.ID == id {
			return st
		}
	}
	return envs.StackRecord{}
}

func alive(handle string) bool { return len(local.Processes(handle)) > 0 }

// TestReplaceAndRollback runs real local stacks: a replace builds a new
// stack beside the one in service and switches to it, keeping the old one
// on standby; a rollback switches back at once; a replace whose stack
// fails leaves the one in service untouched; a destroy destroys every
// stack.
func TestReplaceAndRollback(t *testing.T) {
	ctx := context.Background()
	svc, p := replaceService(t, envs.Config{RollbackGrace: 30 * time.Minute})
	launched, err := svc.Launch(ctx, bob, envs.LaunchRequest{Template: "app", Version: "1.0.0", Name: "app",
		Params: map[string]any{"greeting": "hello", "token": "s3cret-token"}})
	if err != nil {
		t.Fatal(err)
	}
	first := waitReady(t, svc, launched.ID)
	if first.Replace != nil || first.RollbackVersion != "" {
		t.Errorf("a fresh environment: replace %+v, rollback %q; want none", first.Replace, first.RollbackVersion)
	}

	// color is new and has no default: asked for, naming the field.
	_, err = svc.Replace(ctx, bob, envs.ReplaceRequest{ID: first.ID, Version: "1.1.0"})
	if got := fieldsOf(err); !slices.Equal(got, []string{"params.color"}) {
		t.Fatalf("replace without the new parameter: %v, want params.color", err)
	}
	queued, err := svc.Replace(ctx, bob, envs.ReplaceRequest{ID: first.ID, Version: "1.1.0", Params: map[string]string{"color": "blue"}, Reason: "Rollout ro-1"})
	if err != nil {
		t.Fatal(err)
	}
	if queued.Replace == nil || queued.Replace.State != envs.ReplaceBuilding || queued.Status != envs.StatusReady {
		t.Errorf("queued: %s, replace %+v; want ready and building", queued.Status, queued.Replace)
	}
	e := waitReplaced(t, svc, first.ID, envs.ReplaceSwitched)
	if e.ID != first.ID || e.Name != "app" || e.Owner != "bob" || !e.ExpiresAt.Equal(first.ExpiresAt) {
		t.Errorf("replaced: id %s name %s owner %s expires %s; want those of the launch", e.ID, e.Name, e.Owner, e.ExpiresAt)
	}
	if e.Version != "1.1.0" || e.Params["color"] == "" || e.Params["greeting"] != "hello" || e.Params["size"] != "" {
		t.Errorf("replaced: version %s params %v; want 1.1.0 with greeting kept, color given, size dropped", e.Version, e.Params)
	}
	if !slices.Contains(e.SecretNames, "token") {
		t.Errorf("secret names %v, want token kept", e.SecretNames)
	}
	if e.StackID == first.ID || e.Handle != e.StackID || e.Outputs["url"] == first.Outputs["url"] {
		t.Errorf("stack %s handle %s url %s; want a new stack with its own outputs (was %s)", e.StackID, e.Handle, e.Outputs["url"], first.Outputs["url"])
	}
	old := stackOf(e, first.ID)
	if old.Status != envs.StackStandby || old.StandbyUntil == nil || time.Until(*old.StandbyUntil) < 25*time.Minute {
		t.Errorf("old stack %+v, want standby for 30m", old)
	}
	if !alive(first.ID) || !alive(e.StackID) {
		t.Errorf("processes: old %v new %v, want both running", alive(first.ID), alive(e.StackID))
	}
	if e.RollbackVersion != "1.0.0" || !e.RollbackInstant {
		t.Errorf("rollback %q instant %v, want 1.0.0 at once", e.RollbackVersion, e.RollbackInstant)
	}
	evs, err := svc.Events(ctx, e.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	labelled := false
	for _, ev := range evs {
		if ev.StackID == e.StackID && strings.HasPrefix(ev.Message, "Replaced: app@1.1.0 is in service") {
			labelled = true
		}
		if strings.Contains(ev.Message, "s3cret-token") {
			t.Errorf("a secret in the timeline: %q", ev.Message)
		}
	}
	if !labelled {
		t.Errorf("no switch event labelled with the new stack in %v", messages(t, svc, e.ID))
	}
	second := e.StackID

	// Rollback: the standby is switched back at once.
	rb, err := svc.Rollback(ctx, bob, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Version != "1.0.0" || rb.StackID != first.ID || rb.Outputs["url"] != first.Outputs["url"] || rb.Params["size"] != "3" {
		t.Errorf("rolled back: version %s stack %s url %s params %v; want the first stack back", rb.Version, rb.StackID, rb.Outputs["url"], rb.Params)
	}
	if st := stackOf(rb, second); st.Status != envs.StackStandby {
		t.Errorf("the 1.1.0 stack is %s after the rollback, want standby", st.Status)
	}
	if rb.Replace == nil || rb.Replace.State != envs.ReplaceSwitched || rb.Replace.ToVersion != "1.0.0" || rb.Replace.FromVersion != "1.1.0" {
		t.Errorf("replace after rollback %+v", rb.Replace)
	}

	// A failing candidate: destroyed, the stack in service untouched.
	if _, err := svc.Replace(ctx, bob, envs.ReplaceRequest{ID: e.ID, Version: "1.2.0"}); err != nil {
		t.Fatal(err)
	}
	f := waitReplaced(t, svc, e.ID, envs.ReplaceFailed)
	if f.Status != envs.StatusReady || f.Version != "1.0.0" || f.StackID != first.ID || f.Outputs["url"] != first.Outputs["url"] {
		t.Errorf("after a failed replace: %s %s stack %s; want ready on the first stack", f.Status, f.Version, f.StackID)
	}
	if !strings.Contains(f.Replace.Reason, "migrate") {
		t.Errorf("failure reason %q, want the failed setup step named", f.Replace.Reason)
	}
	if !alive(first.ID) {
		t.Error("the stack in service stopped when a replace failed")
	}
	var failed string
	for _, st := range f.Stacks {
		if st.Version == "1.2.0" {
			failed = st.ID
		}
	}
	waitFor(t, svc, e.ID, time.Now().Add(30*time.Second), func(e *envs.Environment) bool {
		return stackOf(e, failed).Status == envs.StackDestroyed
	})
	if hs, _ := p.Stacks(ctx); slices.Contains(hs, failed) {
		t.Errorf("the failed stack %s is still on the host", failed)
	}

	// A destroy destroys the standby too.
	if _, err := svc.Destroy(ctx, bob, e.ID); err != nil {
		t.Fatal(err)
	}
	d := waitFor(t, svc, e.ID, time.Now().Add(30*time.Second), func(e *envs.Environment) bool { return e.Status.Terminal() })
	if d.Status != envs.StatusDestroyed {
		t.Fatalf("destroy ended %s (%s)", d.Status, d.StatusReason)
	}
	for _, st := range d.Stacks {
		if st.Status != envs.StackDestroyed {
			t.Errorf("stack %s (%s) is %s after the destroy", st.ID, st.Version, st.Status)
		}
		if alive(st.ID) {
			t.Errorf("processes of stack %s survived the destroy", st.ID)
		}
	}
	if hs, _ := p.Stacks(ctx); len(hs) > 0 {
		t.Errorf("stacks left on the host: %v", hs)
	}
}

// TestRollbackRebuilds: with no grace the old stack is destroyed at the
// switch, and a rollback is a replace with the earlier version and the
// values it ran with.
func TestRollbackRebuilds(t *testing.T) {
	ctx := context.Background()
	svc, p := replaceService(t, envs.Config{})
	launched, err := svc.Launch(ctx, bob, envs.LaunchRequest{Template: "app", Version: "1.0.0", Name: "app",
		Params: map[string]any{"greeting": "hello", "size": 7}})
	if err != nil {
		t.Fatal(err)
	}
	first := waitReady(t, svc, launched.ID)
	if _, err := svc.Replace(ctx, bob, envs.ReplaceRequest{ID: first.ID, Version: "1.3.0", Params: map[string]string{"size": "9"}}); err != nil {
		t.Fatal(err)
	}
	e := waitReplaced(t, svc, first.ID, envs.ReplaceSwitched)
	e = waitFor(t, svc, e.ID, time.Now().Add(30*time.Second), func(e *envs.Environment) bool {
		return stackOf(e, first.ID).Status == envs.StackDestroyed
	})
	if alive(first.ID) || e.RollbackInstant || e.RollbackVersion != "1.0.0" {
		t.Errorf("grace 0s: old alive %v, rollback %q instant %v; want destroyed, 1.0.0 rebuilt", alive(first.ID), e.RollbackVersion, e.RollbackInstant)
	}
	if e.Params["size"] != "9" {
		t.Errorf("size %q, want the 9 given", e.Params["size"])
	}
	rb, err := svc.Rollback(ctx, bob, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Replace.State != envs.ReplaceBuilding || rb.Version != "1.3.0" {
		t.Errorf("rollback queued: %+v on %s; want a replace building", rb.Replace, rb.Version)
	}
	r := waitReplaced(t, svc, e.ID, envs.ReplaceSwitched)
	if r.Version != "1.0.0" || r.Params["size"] != "7" || r.StackID == first.ID || r.StackID == e.StackID {
		t.Errorf("rolled back: %s params %v stack %s; want 1.0.0 with size 7 on a third stack", r.Version, r.Params, r.StackID)
	}
	// 1.0.0 keeps the server's default grace (1h): the 1.3.0 stack stays.
	if st := stackOf(r, e.StackID); st.Status != envs.StackStandby {
		t.Errorf("the 1.3.0 stack is %s, want standby", st.Status)
	}
	if hs, _ := p.Stacks(ctx); len(hs) != 2 {
		t.Errorf("stacks on the host: %v, want the one in service and the standby", hs)
	}
}

// TestReplaceRules: what a replace and a rollback refuse, naming why.
func TestReplaceRules(t *testing.T) {
	ctx := context.Background()
	svc, _ := replaceService(t, envs.Config{})
	launched, err := svc.Launch(ctx, bob, envs.LaunchRequest{Template: "app", Version: "1.0.0", Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	e := waitReady(t, svc, launched.ID)
	cases := []struct {
		name  string
		do    func() error
		code  envs.Code
		field string
		text  string
	}{
		{"unknown version", func() error {
			_, err := svc.Replace(ctx, bob, envs.ReplaceRequest{ID: e.ID, Version: "9.9.9"})
			return err
		}, envs.EInvalid, "version", "has no version 9.9.9"},
		{"a bad value", func() error {
			_, err := svc.Replace(ctx, bob, envs.ReplaceRequest{ID: e.ID, Version: "1.0.0", Params: map[string]string{"size": "many"}})
			return err
		}, envs.EInvalid, "params.size", ""},
		{"another team", func() error {
			_, err := svc.Replace(ctx, carol, envs.ReplaceRequest{ID: e.ID})
			return err
		}, envs.EForbidden, "", ""},
		{"a viewer", func() error {
			_, err := svc.Rollback(ctx, erin, e.ID)
			return err
		}, envs.EForbidden, "", ""},
		{"rollback of a first stack", func() error {
			_, err := svc.Rollback(ctx, bob, e.ID)
			return err
		}, envs.EConflict, "", "no earlier version"},
		{"no such environment", func() error {
			_, err := svc.Replace(ctx, bob, envs.ReplaceRequest{ID: "env-nope"})
			return err
		}, envs.ENotFound, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.do()
			if envs.ErrorCode(err) != c.code {
				t.Fatalf("got %v (%s), want %s", err, envs.ErrorCode(err), c.code)
			}
			if c.field != "" && !slices.Contains(fieldsOf(err), c.field) {
				t.Errorf("fields %v, want %s", fieldsOf(err), c.field)
			}
			if c.text != "" && !strings.Contains(err.Error(), c.text) {
				t.Errorf("%q does not say %q", err, c.text)
			}
		})
	}

	// While a candidate builds (a 10-minute setup), another replace is a
	// conflict; a destroy interrupts the candidate and destroys both.
	if _, err := svc.Replace(ctx, bob, envs.ReplaceRequest{ID: e.ID, Version: "1.4.0"}); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Replace(ctx, bob, envs.ReplaceRequest{ID: e.ID, Version: "1.1.0", Params: map[string]string{"color": "x"}})
	if envs.ErrorCode(err) != envs.EConflict || !strings.Contains(err.Error(), "1.4.0") {
		t.Errorf("replace during a replace: %v, want a conflict naming 1.4.0", err)
	}
	var cand string
	waitFor(t, svc, e.ID, time.Now().Add(30*time.Second), func(e *envs.Environment) bool {
		for _, st := range e.Stacks {
			if st.Version == "1.4.0" && alive(st.ID) {
				cand = st.ID
			}
		}
		return cand != ""
	})
	if _, err := svc.Destroy(ctx, bob, e.ID); err != nil {
		t.Fatal(err)
	}
	d := waitFor(t, svc, e.ID, time.Now().Add(30*time.Second), func(e *envs.Environment) bool { return e.Status.Terminal() })
	if d.Status != envs.StatusDestroyed || alive(cand) || alive(e.ID) {
		t.Errorf("after the destroy: %s, candidate alive %v, first alive %v", d.Status, alive(cand), alive(e.ID))
	}
	if _, err := svc.Replace(ctx, bob, envs.ReplaceRequest{ID: e.ID}); envs.ErrorCode(err) != envs.EConflict {
		t.Errorf("replace of a destroyed environment: %v, want a conflict", err)
	}
}

func TestRollbackGraceIsValidated(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"rollback: {grace: soon}", `"soon" is not a duration`},
		{"rollback: {grace: -1m}", `"-1m" is not a duration`},
		{"rollback: {grace: 3h}", "longer than ttl.max"},
		{"rollback: {}", "is required"},
	} {
		doc := strings.Replace(appTemplate, "stack:\n", c.doc+"\nstack:\n", 1)
		_, err := envs.ParseSpec([]byte(doc))
		fe := envs.ErrorFields(err)
		if len(fe) == 0 || fe[0].Field != "rollback.grace" || !strings.Contains(fe[0].Message, c.want) {
			t.Errorf("%s: %v, want rollback.grace saying %q", c.doc, err, c.want)
		}
	}
	for doc, want := range map[string]time.Duration{"rollback: {grace: 0s}": 0, "rollback: {grace: 45m}": 45 * time.Minute} {
		spec, err := envs.ParseSpec([]byte(strings.Replace(appTemplate, "stack:\n", doc+"\nstack:\n", 1)))
		if err != nil || spec.Rollback == nil || spec.Rollback.Grace != want {
			t.Errorf("%s: %+v, %v; want a grace of %s", doc, spec, err, want)
		}
	}
}

// A version is retired once it is deprecated and its deprecation date has
// passed: replaceTarget (replace, rollback, the drift remedy) refuses it.
func TestVersionRetired(t *testing.T) {
	now := time.Date(2027, 1, 15, 12, 0, 0, 0, time.UTC)
	before, after := now.Add(-time.Hour), now.Add(time.Hour)
	cases := []struct {
		name       string
		deprecated *time.Time
		date       *time.Time
		want       bool
	}{
		{"live", nil, nil, false},
		{"deprecated without a date", &before, nil, false},
		{"deprecated, date to come", &before, &after, false},
		{"deprecated, date reached", &before, &now, true},
		{"deprecated, date passed", &before, &before, true},
		{"a date without deprecation", nil, &before, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := envs.Version{DeprecatedAt: c.deprecated, DeprecationDate: c.date}
			if got := v.Retired(now); got != c.want {
				t.Errorf("Retired = %v, want %v", got, c.want)
			}
		})
	}
}
