package envs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/internal/testclock"
)

// pricedWarnedTemplate is warned at the default leads and costs $1 an
// hour, up to 10h.
const pricedWarnedTemplate = `name: warned-priced
version: 1.0.0
kind: demo
description: warned before it expires, and priced
owner: tests
provider: faulty
ttl: {default: 4h, max: 10h}
cost: {hourly: 1}
stack: {}
`

func linkLabels(n envs.Notice) []string {
	var out []string
	for _, l := range n.Links {
		out = append(out, l.Label)
	}
	return out
}

// TestOneClickExtendWithinTheMaximum: near its maximum lifetime a warning
// offers to extend by what is left, not by ttl.default, and no "keep until
// max" (which would be the same); the extend stops at the maximum.
func TestOneClickExtendWithinTheMaximum(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	clock := testclock.New(t0)
	svcs, db := warnedReplicas(t, 1, clock, time.Hour)
	got := queuedNotices(t, db)
	svc := svcs[0]
	if _, _, err := svc.Publish(ctx, envs.System, []byte(pricedWarnedTemplate)); err != nil {
		t.Fatal(err)
	}
	env := launchAs(t, svc, "warned-priced", "near-max", "7h", nil)
	waitReady(t, svc, env.ID)
	clock.Set(t0.Add(6 * time.Hour)) // the 1h lead
	warnAll(t, svc)
	ns := noticesFor(got, env.ID)
	if len(ns) != 1 {
		t.Fatalf("%d notices, want 1", len(ns))
	}
	if labels := strings.Join(linkLabels(ns[0]), ", "); labels != "Extend by 3h, Destroy now" {
		t.Errorf("links %q, want Extend by 3h, Destroy now", labels)
	}
	_, e, err := svc.UseLink(ctx, linkToken(t, ns[0], "Extend"), "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if !e.ExpiresAt.Equal(t0.Add(10*time.Hour)) || e.ExtendableBy() != 0 {
		t.Errorf("extended to %s (%s more allowed), want the maximum %s", e.ExpiresAt, e.ExtendableBy(), t0.Add(10*time.Hour))
	}
}

// TestOneClickExtendHeldToQuotas: a link's extend is held to the owner's
// quota like any extend: refused naming the limit, and not spent, so it
// works once the limit is raised.
func TestOneClickExtendHeldToQuotas(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	clock := testclock.New(t0)
	svcs, db := warnedReplicas(t, 1, clock, time.Hour)
	got := queuedNotices(t, db)
	svc := svcs[0]
	if _, _, err := svc.Publish(ctx, envs.System, []byte(pricedWarnedTemplate)); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetQuota(ctx, ada, envs.Quota{Scope: envs.QuotaUser, Name: tester.Name, MaxMonthly: dollars(t, "3")}); err != nil {
		t.Fatal(err)
	}
	env := launchAs(t, svc, "warned-priced", "held", "2h", nil) // $2 projected
	waitReady(t, svc, env.ID)
	clock.Set(t0.Add(time.Hour)) // the 1h lead: $1 left, +4h would make $5
	warnAll(t, svc)
	ns := noticesFor(got, env.ID)
	if len(ns) != 1 {
		t.Fatalf("%d notices, want 1", len(ns))
	}
	extend := linkToken(t, ns[0], "Extend by 4h")
	_, _, err := svc.UseLink(ctx, extend, "192.0.2.1")
	if envs.ErrorCode(err) != envs.EQuota || !strings.Contains(envs.ErrorMessage(err), "user tester") {
		t.Fatalf("extend past the quota by link: %v, want a quota refusal naming user tester", err)
	}
	if e, _ := svc.Environment(ctx, env.ID); !e.ExpiresAt.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("the refused link moved the expiry to %s", e.ExpiresAt)
	}
	if err := svc.SetQuota(ctx, ada, envs.Quota{Scope: envs.QuotaUser, Name: tester.Name, MaxMonthly: dollars(t, "10")}); err != nil {
		t.Fatal(err)
	}
	_, e, err := svc.UseLink(ctx, extend, "192.0.2.1")
	if err != nil || !e.ExpiresAt.Equal(t0.Add(6*time.Hour)) {
		t.Errorf("the same link under the raised quota: %v, expires %v; want extended to %s", err, e, t0.Add(6*time.Hour))
	}
}
