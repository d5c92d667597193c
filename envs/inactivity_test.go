package envs_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/notify"
	"github.com/mayflyhq/mayfly/envs/notify/notifytest"
	"github.com/mayflyhq/mayfly/internal/testclock"
	"github.com/mayflyhq/mayfly/storage"
)

// idleTemplate destroys its environments after 8h without activity,
// warning an hour before; schedules apply to it like to any other.
const idleTemplate = `name: idle
version: 1.0.0
kind: replica
description: destroyed when unused
owner: tests
provider: faulty
ttl: {default: 48h, max: 240h}
inactivity: {idle: 8h, warn_before: 1h}
parameters:
  - {name: customer, type: string, default: acme}
  - {name: password, type: string, secret: true}
stack: {}
`

// lifecycleReplicas starts n services of the faulty provider on one
// database with the same fake clock (the lifecycle pass runs only when a
// test calls it), and publishes idleTemplate.
func lifecycleReplicas(t *testing.T, n int, clock *testclock.Clock) ([]*envs.Service, *storage.DB) {
	t.Helper()
	db, cipher := openStore(t)
	var out []*envs.Service
	for range n {
		// One provider each, as on separate hosts; the faulty provider
		// keeps no state a destroy needs.
		svc := startFaulty(t, db, cipher, newFaultyProvider(nil), envs.Config{Clock: clock.Now, LifecycleInterval: 1000 * time.Hour})
		out = append(out, svc)
	}
	if _, _, err := out[0].Publish(context.Background(), envs.System, []byte(idleTemplate)); err != nil {
		t.Fatal(err)
	}
	return out, db
}

// runAll runs one lifecycle pass on every replica at once.
func runAll(t *testing.T, svcs ...*envs.Service) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(svcs))
	for i, svc := range svcs {
		wg.Go(func() { errs[i] = svc.RunLifecycle(context.Background()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("RunLifecycle: %v", err)
		}
	}
}

func countEvents(t *testing.T, svc *envs.Service, id, prefix string) int {
	t.Helper()
	n := 0
	for _, m := range messages(t, svc, id) {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// TestInactivityWarnsThenDestroys: idle for 7h, an environment is warned
// once (timeline, and a delivery to the owner's webhook); traffic through the proxy moves its
// deadline and re-arms the warning; idle 8h after that, the reaper
// destroys it with the reason "inactive", audited, exactly once with two
// replicas.
func TestInactivityWarnsThenDestroys(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	clock := testclock.New(t0)
	svcs, db := lifecycleReplicas(t, 2, clock)
	svc := svcs[0]
	secret := notify.NewSecret()
	rcv := notifytest.StartReceiver(t, secret)
	if _, _, err := svc.AddNotifyChannel(ctx, tester, envs.ChannelRequest{Kind: envs.ChannelWebhook, URL: rcv.URL, Secret: secret,
		Events: []string{string(envs.NoticeInactiveSoon)}}); err != nil {
		t.Fatal(err)
	}
	env := launchAs(t, svc, "idle", "idle-one", "", nil)
	waitReady(t, svc, env.ID)

	l, err := svc.EnvironmentLifecycle(ctx, env.ID)
	if err != nil || l == nil {
		t.Fatalf("lifecycle: %v, %v", l, err)
	}
	if got, want := *l.IdleUntil, t0.Add(8*time.Hour); !got.Equal(want) {
		t.Errorf("idle until %s, want %s", got, want)
	}
	if l.LastActiveVia != envs.ViaLaunch {
		t.Errorf("last active via %q, want launch", l.LastActiveVia)
	}

	steps := []struct {
		name     string
		at       time.Duration
		touch    bool
		warnings int
		status   envs.Status
	}{
		{"not yet warned a second before the warning", 7*time.Hour - time.Second, false, 0, envs.StatusReady},
		{"warned at idle minus warn_before", 7 * time.Hour, false, 1, envs.StatusReady},
		{"warned once however often the pass runs", 7*time.Hour + time.Minute, false, 1, envs.StatusReady},
		{"used through the proxy", 7*time.Hour + 30*time.Minute, true, 1, envs.StatusReady},
		{"still there at the old deadline", 8*time.Hour + time.Minute, false, 1, envs.StatusReady},
		{"warned again for the new deadline", 14*time.Hour + 30*time.Minute, false, 2, envs.StatusReady},
		{"still there a second before the new deadline", 15*time.Hour + 30*time.Minute - time.Second, false, 2, envs.StatusReady},
		{"destroyed at the new deadline", 15*time.Hour + 30*time.Minute, false, 2, envs.StatusDestroying},
	}
	for _, st := range steps {
		clock.Set(t0.Add(st.at))
		if st.touch {
			svcs[1].Touch(env.ID, envs.ViaProxy)
		}
		runAll(t, svcs...)
		got, err := svc.Environment(ctx, env.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != st.status && !(st.status == envs.StatusDestroying && got.Status == envs.StatusDestroyed) {
			t.Errorf("%s: status %s, want %s", st.name, got.Status, st.status)
		}
		if n := countEvents(t, svc, env.ID, "Inactive for 7h"); n != st.warnings {
			t.Errorf("%s: %d warnings, want %d", st.name, n, st.warnings)
		}
		rcv.Wait(t, st.warnings, 10*time.Second)
		if st.touch {
			l, err := svc.EnvironmentLifecycle(ctx, env.ID)
			if err != nil {
				t.Fatal(err)
			}
			if l.LastActiveVia != envs.ViaProxy || !l.LastActiveAt.Equal(t0.Add(st.at)) {
				t.Errorf("%s: last active %s via %q, want %s via proxy", st.name, l.LastActiveAt, l.LastActiveVia, t0.Add(st.at))
			}
			if want := t0.Add(st.at + 8*time.Hour); !l.IdleUntil.Equal(want) {
				t.Errorf("%s: idle until %s, want %s", st.name, l.IdleUntil, want)
			}
		}
	}
	// Exactly one delivery per warning, however many replicas ran the
	// pass: by now a duplicate would have arrived with the destroy.
	waitFor(t, svc, env.ID, time.Now().Add(30*time.Second), func(e *envs.Environment) bool { return e.Status == envs.StatusDestroyed })
	got := rcv.Accepted()
	if len(got) != 2 || got[0].ID == got[1].ID {
		t.Errorf("%d deliveries, want 2 distinct: %+v", len(got), got)
	}
	for _, d := range got {
		if d.Payload["event"] != string(envs.NoticeInactiveSoon) || !strings.Contains(d.Payload["text"].(string), "Inactive for 7h") {
			t.Errorf("delivery %s", d.Body)
		}
		if e, _ := d.Payload["environment"].(map[string]any); e["name"] != "idle-one" {
			t.Errorf("delivery about %v, want idle-one", d.Payload["environment"])
		}
	}
	if n := countEvents(t, svc, env.ID, "Inactive for 8h (inactivity.idle 8h): destroying"); n != 1 {
		t.Errorf("%d inactivity destroys, want 1: %q", n, messages(t, svc, env.ID))
	}
	entries, err := db.AuditEntries(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	audited := 0
	for _, e := range entries {
		if e.Action == "environment.destroy" && e.Target == env.ID {
			audited++
			if e.Actor != "reaper" || e.Detail != "inactive" {
				t.Errorf("audit: actor %q detail %q, want reaper, inactive", e.Actor, e.Detail)
			}
		}
	}
	if audited != 1 {
		t.Errorf("%d destroy audit entries, want 1", audited)
	}
	waitFor(t, svc, env.ID, time.Now().Add(30*time.Second), func(e *envs.Environment) bool { return e.Status == envs.StatusDestroyed })
}

// TestExtendCountsAsActivity: an action on the environment moves its idle
// deadline like traffic does.
func TestExtendCountsAsActivity(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	clock := testclock.New(t0)
	svcs, _ := lifecycleReplicas(t, 1, clock)
	svc := svcs[0]
	env := launchAs(t, svc, "idle", "idle-extend", "", nil)
	waitReady(t, svc, env.ID)
	clock.Set(t0.Add(5 * time.Hour))
	if _, err := svc.Extend(ctx, tester, env.ID, "1h"); err != nil {
		t.Fatal(err)
	}
	runAll(t, svc)
	l, err := svc.EnvironmentLifecycle(ctx, env.ID)
	if err != nil {
		t.Fatal(err)
	}
	if l.LastActiveVia != envs.ViaExtend || !l.IdleUntil.Equal(t0.Add(13*time.Hour)) {
		t.Errorf("after extend: via %q, idle until %s; want extend, %s", l.LastActiveVia, l.IdleUntil, t0.Add(13*time.Hour))
	}
	clock.Set(t0.Add(8 * time.Hour))
	runAll(t, svc)
	if got, _ := svc.Environment(ctx, env.ID); got.Status != envs.StatusReady {
		t.Errorf("8h after launch, 3h after the extend: %s, want ready", got.Status)
	}
}

func TestInactivityPolicyIsValidated(t *testing.T) {
	cases := []struct {
		name, policy, field string
	}{
		{"idle missing", "inactivity: {warn_before: 1h}", "inactivity.idle"},
		{"idle not a duration", "inactivity: {idle: soon}", "inactivity.idle"},
		{"idle too short", "inactivity: {idle: 10s}", "inactivity.idle"},
		{"warning not shorter", "inactivity: {idle: 1h, warn_before: 1h}", "inactivity.warn_before"},
		{"warning negative", "inactivity: {idle: 1h, warn_before: -1m}", "inactivity.warn_before"},
		{"misspelt field", "inactivity: {idle: 1h, warn: 1m}", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(idleTemplate, "inactivity: {idle: 8h, warn_before: 1h}", c.policy, 1)
			_, err := envs.ParseSpec([]byte(src))
			if err == nil {
				t.Fatal("accepted")
			}
			if c.field != "" && !strings.Contains(strings.Join(fieldsOf(err), ","), c.field) {
				t.Errorf("fields %v, want %s (%v)", fieldsOf(err), c.field, err)
			}
		})
	}
	spec, err := envs.ParseSpec([]byte(idleTemplate))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Inactivity == nil || spec.Inactivity.Idle != 8*time.Hour || spec.Inactivity.WarnBefore != time.Hour {
		t.Errorf("inactivity %+v, want 8h and 1h", spec.Inactivity)
	}
}
