package envs_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/storage"
)

// The provisioning pipeline on the real database and job queue: destroys
// interrupt provisioning, failed launches stay visible, and a Provision's
// progress reaches the timeline as it happens.

// startFaulty runs a service of the faulty provider on db (the template
// published), with fast polls; cfg's other fields are kept.
func startFaulty(t *testing.T, db *storage.DB, cipher *envs.Cipher, p *faultyProvider, cfg envs.Config) *envs.Service {
	t.Helper()
	ctx := context.Background()
	cfg.Store, cfg.Cipher, cfg.Providers = db, cipher, []envs.Provider{p}
	cfg.PollInterval = cmpOr(cfg.PollInterval, 20*time.Millisecond)
	cfg.RetryDelay = cmpOr(cfg.RetryDelay, 10*time.Millisecond)
	cfg.ReapInterval = cmpOr(cfg.ReapInterval, 50*time.Millisecond)
	svc, err := envs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{faultyTemplate, heldTemplate} {
		if _, _, err := svc.Publish(ctx, envs.System, []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	startService(t, svc)
	// Before Stop (cleanups run last first): a stuck call that still holds
	// a worker, should the orchestrator regress, must not hang the test.
	t.Cleanup(func() { close(p.release) })
	return svc
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// heldTemplate keeps a failed stack for a moment before cleaning it up.
const heldTemplate = `name: faulty-held
version: 1.0.0
kind: demo
description: a failed stack is kept for debugging
owner: tests
provider: faulty
ttl: {default: 1h, max: 2h}
on_failure: {keep_stack: 1s}
parameters:
  - {name: token, type: string, secret: true}
stack: {}
`

var tester = envs.Actor{Name: "tester", UserID: "usr-tester", Role: envs.RoleMember}

func launchAs(t *testing.T, svc *envs.Service, template, name, ttl string, params map[string]any) *envs.Environment {
	t.Helper()
	env, err := svc.Launch(context.Background(), tester, envs.LaunchRequest{Template: template, Name: name, TTL: ttl, Params: params})
	if err != nil {
		t.Fatalf("launch %s: %v", name, err)
	}
	return env
}

func messages(t *testing.T, svc *envs.Service, id string) []string {
	t.Helper()
	evs, err := svc.Events(context.Background(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Message
	}
	return out
}

// index is the position of the first message starting with prefix, -1 if none.
func index(msgs []string, prefix string) int {
	return slices.IndexFunc(msgs, func(m string) bool { return strings.HasPrefix(m, prefix) })
}

// A destroy requested while Provision runs cuts it short, also when the
// request was taken by another replica (a second Service on the same
// database, whose hub this one never hears): the provider's context ends
// within a watch interval, not at the job timeout, and what it reports
// after that stays out of the timeline.
func TestDestroyInterruptsProvisioning(t *testing.T) {
	for _, where := range []string{"this replica", "another replica"} {
		t.Run(where, func(t *testing.T) {
			db, cipher := openStore(t)
			started := make(chan struct{})
			var once sync.Once
			p := newFaultyProvider(map[string]plan{"slow": {onProvision: func(ctx context.Context, req envs.ProvisionRequest) {
				req.Progress.StackCreated(req.EnvironmentID)
				req.Progress.Event(envs.ProviderEvent{Message: "setup: sleep 600 started"})
				once.Do(func() { close(started) })
				<-ctx.Done() // a setup command, killed when its context ends
				req.Progress.Event(envs.ProviderEvent{Message: "service web started"})
			}, provision: always(fail)}})
			svc := startFaulty(t, db, cipher, p, envs.Config{JobTimeout: time.Minute, DestroyWatchInterval: 100 * time.Millisecond})
			via := svc
			if where == "another replica" {
				other, err := envs.New(envs.Config{Store: db, Cipher: cipher, Providers: []envs.Provider{p}})
				if err != nil {
					t.Fatal(err)
				}
				via = other
			}
			env := launchAs(t, svc, "faulty", "slow", "", nil)
			select {
			case <-started:
			case <-time.After(20 * time.Second):
				t.Fatal("Provision did not start")
			}
			requested := time.Now()
			if _, err := via.Destroy(context.Background(), tester, env.ID); err != nil {
				t.Fatal(err)
			}
			got := waitFor(t, svc, env.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool { return e.Status.Terminal() })
			if took := time.Since(requested); took > 5*time.Second {
				t.Errorf("destroyed %s after the request, want within seconds (the job timeout is a minute)", took)
			}
			if got.FailureReason != "" {
				t.Errorf("failure reason %q: an interrupted step is not a failed launch", got.FailureReason)
			}
			msgs := messages(t, svc, env.ID)
			want := []string{"Stack created: " + env.ID, "setup: sleep 600 started", "Destroy requested by tester", "Provisioning stopped for the destroy", "Destroyed"}
			last := -1
			for _, w := range want {
				i := index(msgs, w)
				if i <= last {
					t.Fatalf("timeline %q: want %q in this order", msgs, want)
				}
				last = i
			}
			if index(msgs, "service web started") >= 0 || index(msgs, "Provisioning attempt") >= 0 {
				t.Errorf("timeline %q shows progress after the destroy request or a failed attempt", msgs)
			}
		})
	}
}

// What a provider reports through Progress is in the timeline while
// Provision still runs, with the provider's times, masked, in order, and
// "Stack created" once however often it is reported.
func TestProvisionProgressIsRecordedAtOnce(t *testing.T) {
	db, cipher := openStore(t)
	reported, release := make(chan struct{}), make(chan struct{})
	first := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p := newFaultyProvider(map[string]plan{"live": {onProvision: func(ctx context.Context, req envs.ProvisionRequest) {
		req.Progress.StackCreated(req.EnvironmentID)
		req.Progress.StackCreated(req.EnvironmentID) // a retried Provision says it again
		req.Progress.Event(envs.ProviderEvent{At: first, Message: "setup: login --token " + req.Params["token"] + " started"})
		req.Progress.Event(envs.ProviderEvent{At: first.Add(time.Second), Message: "setup: login finished"})
		close(reported)
		<-release
	}}})
	svc := startFaulty(t, db, cipher, p, envs.Config{})
	env := launchAs(t, svc, "faulty-held", "live", "", map[string]any{"token": "hunter2-secret"})
	<-reported
	evs, err := svc.Events(context.Background(), env.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var provider []envs.Event
	for _, e := range evs {
		if e.Kind == envs.EventProvider {
			provider = append(provider, e)
		}
	}
	if len(provider) != 3 || provider[0].Message != "Stack created: "+env.ID ||
		provider[1].Message != "setup: login --token *** started" || provider[2].Message != "setup: login finished" {
		t.Fatalf("while Provision runs the timeline's provider lines are %+v, want the stack, then both steps masked", provider)
	}
	if !provider[1].At.Equal(first) || !provider[2].At.Equal(first.Add(time.Second)) {
		t.Errorf("steps at %s and %s, want the provider's times %s and a second later", provider[1].At, provider[2].At, first)
	}
	close(release)
	waitFor(t, svc, env.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool { return e.Status == envs.StatusReady })
	if msgs := messages(t, svc, env.ID); strings.Count(strings.Join(msgs, "\n"), "Stack created") != 1 {
		t.Errorf("timeline %q: want the stack created once", msgs)
	}
}

// A failed launch stays failed, with its reason, listed among the
// failures, while its stack is cleaned up at once; destroying it then, or
// its expiry, closes it without another provider call.
func TestFailedLaunchStaysFailed(t *testing.T) {
	db, cipher := openStore(t)
	p := newFaultyProvider(map[string]plan{
		"dismissed": {status: always(fail)},
		"expired":   {status: always(fail)},
	})
	svc := startFaulty(t, db, cipher, p, envs.Config{ProvisionAttempts: 1})
	ctx := context.Background()
	dismissed := launchAs(t, svc, "faulty", "dismissed", "", nil)
	expired := launchAs(t, svc, "faulty", "expired", "3s", nil)
	for _, e := range []*envs.Environment{dismissed, expired} {
		got := waitFor(t, svc, e.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool { return e.StackCleanedAt != nil })
		if got.Status != envs.StatusFailed || !strings.Contains(got.FailureReason, "Status refused") || got.StackHeldUntil != nil {
			t.Errorf("%s: %s (%q), held until %v; want failed with its reason, not held", got.Name, got.Status, got.FailureReason, got.StackHeldUntil)
		}
		msgs := messages(t, svc, e.ID)
		if a, b, c := index(msgs, "Launch failed: "), index(msgs, "Cleaning up the failed launch's stack"), index(msgs, "Stack cleaned up"); a < 0 || b < a || c < b {
			t.Errorf("%s: timeline %q, want the failure, the clean-up and its end in order", got.Name, msgs)
		}
		if calls := p.callsOf(got.Name); calls["Destroy"] != 1 {
			t.Errorf("%s: %d Destroy calls, want the clean-up's one", got.Name, calls["Destroy"])
		}
	}
	failures, err := svc.Failures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(failures) != 2 {
		t.Errorf("%d failures listed, want both failed launches", len(failures))
	}
	// The failed launch's name is free again at once (the next try fails
	// too: the provider's plan goes by the name).
	again := launchAs(t, svc, "faulty", "dismissed", "", nil)
	waitFor(t, svc, again.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool { return e.StackCleanedAt != nil })

	if _, err := svc.Destroy(ctx, tester, dismissed.ID); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Environment(ctx, dismissed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != envs.StatusDestroyed || got.DestroyedAt == nil || got.FailureReason == "" {
		t.Errorf("dismissed: %s, destroyed at %v, reason %q; want destroyed at once, the reason kept", got.Status, got.DestroyedAt, got.FailureReason)
	}
	if !hasEvent(t, svc, dismissed.ID, "Destroyed on request of tester") {
		t.Errorf("dismissed: timeline %q", messages(t, svc, dismissed.ID))
	}
	waitFor(t, svc, expired.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool { return e.Status.Terminal() })
	if !hasEvent(t, svc, expired.ID, "Destroyed: TTL expired") {
		t.Errorf("expired: timeline %q", messages(t, svc, expired.ID))
	}
	// Only the clean-ups called Destroy (one per stack).
	for name, want := range map[string]int{"dismissed": 2, "expired": 1} {
		if n := p.callsOf(name)["Destroy"]; n != want {
			t.Errorf("%s: %d Destroy calls, want the clean-ups' %d", name, n, want)
		}
	}
	waitJobsSettled(t, db, time.Now().Add(20*time.Second))
}

// on_failure.keep_stack keeps a failed stack that long before it is
// cleaned up; a destroy meanwhile destroys it the usual way.
func TestFailedStackIsHeld(t *testing.T) {
	db, cipher := openStore(t)
	p := newFaultyProvider(map[string]plan{"held": {status: always(fail)}, "dropped": {status: always(fail)}})
	svc := startFaulty(t, db, cipher, p, envs.Config{ProvisionAttempts: 1})
	ctx := context.Background()
	held := launchAs(t, svc, "faulty-held", "held", "", nil)
	dropped := launchAs(t, svc, "faulty-held", "dropped", "", nil)

	// dropped is destroyed as soon as it fails, well within its hold; the
	// clean-up that wakes after the hold must then do nothing.
	waitFor(t, svc, dropped.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool { return e.Status == envs.StatusFailed })
	if d, err := svc.Destroy(ctx, tester, dropped.ID); err != nil {
		t.Fatal(err)
	} else if d.StackCleanedAt != nil {
		t.Fatal("dropped's stack was cleaned up before its 1s hold ran out")
	}
	got := waitFor(t, svc, held.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool { return e.Status == envs.StatusFailed })
	if got.StackHeldUntil == nil {
		t.Fatal("a failed stack of a template with on_failure.keep_stack is not held")
	}
	if d := got.StackHeldUntil.Sub(got.UpdatedAt); d < 900*time.Millisecond || d > 1100*time.Millisecond {
		t.Errorf("held for %s after the failure, want keep_stack's 1s", d)
	}
	if got.StackCleanedAt != nil || p.callsOf("held")["Destroy"] != 0 {
		t.Errorf("the stack was cleaned up during the hold")
	}
	if !hasEvent(t, svc, held.ID, "Keeping the failed stack for debugging until ") {
		t.Errorf("timeline %q does not say the stack is kept", messages(t, svc, held.ID))
	}
	got = waitFor(t, svc, held.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool { return e.StackCleanedAt != nil })
	if got.Status != envs.StatusFailed || got.StackCleanedAt.Before(*got.StackHeldUntil) {
		t.Errorf("%s, cleaned up at %s, held until %s; want failed, cleaned after the hold", got.Status, got.StackCleanedAt, got.StackHeldUntil)
	}

	waitFor(t, svc, dropped.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool { return e.Status.Terminal() })
	waitJobsSettled(t, db, time.Now().Add(20*time.Second))
	if n := p.callsOf("dropped")["Destroy"]; n != 1 {
		t.Errorf("a held stack destroyed during its hold: %d Destroy calls, want 1 (the clean-up does nothing after)", n)
	}
}

func TestOnFailureIsValidated(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"on_failure: {keep_stack: soon}", `"soon" is not a positive duration`},
		{"on_failure: {keep_stack: 3h}", "longer than ttl.max"},
		{"on_failure: {}", "is required"},
		{"on_failure: {keep: 1m}", "field keep not found"},
	} {
		doc := strings.Replace(faultyTemplate, "stack: {}", c.doc+"\nstack: {}", 1)
		_, err := envs.ParseSpec([]byte(doc))
		var fe []envs.FieldError
		if err != nil {
			fe = envs.ErrorFields(err)
		}
		if len(fe) == 0 || !strings.Contains(fe[0].Message, c.want) || c.want != "field keep not found" && fe[0].Field != "on_failure.keep_stack" {
			t.Errorf("%s: %v, want a field error saying %q", c.doc, err, c.want)
		}
	}
	spec, err := envs.ParseSpec([]byte(heldTemplate))
	if err != nil || spec.OnFailure == nil || spec.OnFailure.KeepStack != time.Second {
		t.Errorf("keep_stack 1s: %+v, %v", spec, err)
	}
}
