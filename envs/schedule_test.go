package envs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/internal/testclock"
)

func TestParseSchedule(t *testing.T) {
	cases := []struct {
		name            string
		stop, start, tz string
		field           string
	}{
		{"stop missing", "", "0 8 * * MON-FRI", "UTC", "stop"},
		{"start not cron", "0 19 * * MON-FRI", "at eight", "UTC", "start"},
		{"unknown zone", "0 19 * * MON-FRI", "0 8 * * MON-FRI", "Mars/Olympus", "tz"},
		{"zone inside the expression", "CRON_TZ=UTC 0 19 * * *", "0 8 * * *", "UTC", "stop"},
		{"six fields", "0 0 19 * * MON-FRI", "0 8 * * MON-FRI", "UTC", "stop"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := envs.ParseSchedule(c.stop, c.start, c.tz)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := strings.Join(fieldsOf(err), ","); got != c.field {
				t.Errorf("fields %q, want %q (%v)", got, c.field, err)
			}
		})
	}
	// Across a weekend and a time zone (New York is UTC-5 in December).
	s, err := envs.ParseSchedule("0 19 * * MON-FRI", "0 8 * * MON-FRI", "America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	friday := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC) // Fri 15:00 in New York
	if got, want := s.NextStop(friday), time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("next stop %s, want %s", got, want)
	}
	if got, want := s.NextStart(s.NextStop(friday)), time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("next start %s, want Monday 08:00 New York %s", got, want)
	}
}

// TestScheduleStopsAndStartsAcrossAWeekend: a team's working hours in New
// York stop its environment on Friday evening (Saturday in UTC) and start
// it again on Monday morning as a fresh stack with the same version,
// parameters (secrets too), name and expiry, exactly once with two
// replicas; an environment's own schedule overrides the team's.
func TestScheduleStopsAndStartsAcrossAWeekend(t *testing.T) {
	ctx := context.Background()
	fri := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC) // Friday 15:00 in New York
	clock := testclock.New(fri)
	svcs, _ := lifecycleReplicas(t, 2, clock)
	svc := svcs[0]
	if err := svc.SetTeamSchedule(ctx, carol, "shop", envs.ScheduleRequest{Mode: "custom", Stop: "0 19 * * MON-FRI", Start: "0 8 * * MON-FRI", TZ: "America/New_York"}); err == nil {
		t.Error("carol (team data) set the schedule of team shop")
	}
	if err := svc.SetTeamSchedule(ctx, bob, "shop", envs.ScheduleRequest{Mode: "custom", Stop: "0 19 * * MON-FRI", Start: "0 8 * * MON-FRI", TZ: "America/New_York"}); err != nil {
		t.Fatal(err)
	}
	env, err := svc.Launch(ctx, bob, envs.LaunchRequest{Template: "idle", Name: "replica-ny", TTL: "200h",
		Params: map[string]any{"customer": "globex", "password": "s3cret"}, Labels: map[string]string{"pr": "7"}})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, svc, env.ID)
	l, err := svc.EnvironmentLifecycle(ctx, env.ID)
	if err != nil {
		t.Fatal(err)
	}
	saturday := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	if l.ScheduleFrom != "team" || l.StopAt == nil || !l.StopAt.Equal(saturday) {
		t.Fatalf("schedule from %q, stop at %v; want team, %s", l.ScheduleFrom, l.StopAt, saturday)
	}
	// The inactivity policy is not what this test is about: keep it used.
	touch := func() {
		svc.Touch(env.ID, envs.ViaProxy)
	}

	clock.Set(saturday.Add(-time.Second))
	touch()
	runAll(t, svcs...)
	if got, _ := svc.Environment(ctx, env.ID); got.Status != envs.StatusReady {
		t.Fatalf("a second before the stop: %s", got.Status)
	}
	clock.Set(saturday)
	runAll(t, svcs...)
	stopped := waitFor(t, svc, env.ID, time.Now().Add(30*time.Second), func(e *envs.Environment) bool { return e.Status == envs.StatusDestroyed })
	if n := countEvents(t, svc, env.ID, "Schedule (team, America/New_York): stopped for the night; a fresh stack starts at Mon 7 Dec 08:00 EST"); n != 1 {
		t.Errorf("%d stop events, want 1: %q", n, messages(t, svc, env.ID))
	}
	monday := time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{saturday.Add(12 * time.Hour), saturday.Add(36 * time.Hour), monday.Add(-time.Second)} {
		clock.Set(at)
		runAll(t, svcs...)
		if l, _ := svc.EnvironmentLifecycle(ctx, env.ID); l.RelaunchedAs != "" {
			t.Fatalf("started again at %s, before Monday 08:00 in New York", at)
		}
	}
	clock.Set(monday)
	runAll(t, svcs...)
	l, err = svc.EnvironmentLifecycle(ctx, env.ID)
	if err != nil {
		t.Fatal(err)
	}
	if l.RelaunchedAs == "" || l.RelaunchedAs == "-" {
		t.Fatalf("not started at Monday 08:00 in New York: %q, %q", l.RelaunchedAs, messages(t, svc, env.ID))
	}
	page, err := svc.Environments(ctx, envs.Filter{Name: "replica-ny"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 {
		t.Errorf("%d environments named replica-ny, want the stopped one and one start", len(page))
	}
	next := waitReady(t, svc, l.RelaunchedAs)
	if next.RelaunchedFrom != env.ID || next.Name != env.Name || next.Version != env.Version || next.Owner != "bob" || next.Team != "shop" {
		t.Errorf("started %+v, want a relaunch of %s by bob", next, env.ID)
	}
	if !next.ExpiresAt.Equal(stopped.ExpiresAt) || next.Params["customer"] != "globex" || strings.Join(next.SecretNames, ",") != "password" || next.Labels["pr"] != "7" {
		t.Errorf("started: expires %s params %v secrets %v labels %v; want %s, globex, password, pr=7",
			next.ExpiresAt, next.Params, next.SecretNames, next.Labels, stopped.ExpiresAt)
	}
	nl, err := svc.EnvironmentLifecycle(ctx, next.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC); nl.StopAt == nil || !nl.StopAt.Equal(want) {
		t.Errorf("the start's next stop %v, want %s", nl.StopAt, want)
	}

	// Its own schedule: in Paris (UTC+1), stopping at 18:00.
	if err := svc.SetEnvironmentSchedule(ctx, bea, next.ID, envs.ScheduleRequest{Mode: "custom", Stop: "0 18 * * *", Start: "0 7 * * MON-FRI", TZ: "Europe/Paris"}); err != nil {
		t.Fatal(err)
	}
	nl, _ = svc.EnvironmentLifecycle(ctx, next.ID)
	if want := time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC); nl.ScheduleFrom != "environment" || nl.Override != "custom" || !nl.StopAt.Equal(want) {
		t.Errorf("own schedule: from %q override %q stop %v; want environment, custom, %s", nl.ScheduleFrom, nl.Override, nl.StopAt, want)
	}
	if err := svc.SetEnvironmentSchedule(ctx, carol, next.ID, envs.ScheduleRequest{Mode: "off"}); envs.ErrorCode(err) != envs.EForbidden {
		t.Errorf("carol turned bob's schedule off: %v", err)
	}
	if err := svc.SetEnvironmentSchedule(ctx, bob, next.ID, envs.ScheduleRequest{Mode: "off"}); err != nil {
		t.Fatal(err)
	}
	nl, _ = svc.EnvironmentLifecycle(ctx, next.ID)
	if nl.Schedule != nil || nl.StopAt != nil {
		t.Errorf("schedule off: %+v, stop %v", nl.Schedule, nl.StopAt)
	}
	if err := svc.SetEnvironmentSchedule(ctx, bob, next.ID, envs.ScheduleRequest{Mode: "custom", Stop: "nope", TZ: "UTC"}); err == nil ||
		!strings.Contains(strings.Join(fieldsOf(err), ","), "stop") {
		t.Errorf("a bad schedule: %v, want one naming stop", err)
	}
}

// TestScheduledStartCanBeCancelled: destroying an environment its schedule
// stopped (or turning its schedule off) keeps it from starting again.
func TestScheduledStartCanBeCancelled(t *testing.T) {
	ctx := context.Background()
	mon := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clock := testclock.New(mon)
	svcs, _ := lifecycleReplicas(t, 1, clock)
	svc := svcs[0]
	if err := svc.SetTeamSchedule(ctx, bob, "shop", envs.ScheduleRequest{Mode: "custom", Stop: "0 13 * * *", Start: "0 14 * * *", TZ: "UTC"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		cancel func(id string) error
	}{
		{"destroyed again", func(id string) error { _, err := svc.Destroy(ctx, bob, id); return err }},
		{"schedule off", func(id string) error {
			return svc.SetEnvironmentSchedule(ctx, bea, id, envs.ScheduleRequest{Mode: "off"})
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			day := mon.Add(time.Duration(i) * 24 * time.Hour)
			clock.Set(day)
			env, err := svc.Launch(ctx, bob, envs.LaunchRequest{Template: "idle", Name: "cancelled", TTL: "100h"})
			if err != nil {
				t.Fatal(err)
			}
			waitReady(t, svc, env.ID)
			clock.Set(day.Add(time.Hour))
			runAll(t, svc)
			waitFor(t, svc, env.ID, time.Now().Add(30*time.Second), func(e *envs.Environment) bool { return e.Status == envs.StatusDestroyed })
			if err := c.cancel(env.ID); err != nil {
				t.Fatal(err)
			}
			clock.Set(day.Add(2 * time.Hour))
			runAll(t, svc)
			l, err := svc.EnvironmentLifecycle(ctx, env.ID)
			if err != nil {
				t.Fatal(err)
			}
			if l.RelaunchedAs != "" || l.StartAt != nil {
				t.Errorf("started again as %q (start %v) after it was cancelled", l.RelaunchedAs, l.StartAt)
			}
			if !hasEvent(t, svc, env.ID, "Scheduled start cancelled by") {
				t.Errorf("no cancel event: %q", messages(t, svc, env.ID))
			}
		})
	}
}
