package envs_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/internal/testclock"
	"github.com/mayflyhq/mayfly/storage"
)

// pricedTemplate costs $1 an hour, $5 when large; its default TTL of 10h
// projects $10.
const pricedTemplate = `name: priced
version: 1.0.0
kind: demo
description: an environment with a cost estimate
owner: tests
provider: faulty
ttl: {default: 10h, max: 100h}
cost: {hourly: 1, by_param: {size: {small: 0, large: 4}}}
parameters:
  - {name: size, type: enum, options: [small, large], default: small}
  - {name: password, type: string, secret: true}
stack: {}
`

var (
	ann   = envs.Actor{Name: "ann", UserID: "usr-ann", Role: envs.RoleMember, Team: "pay", Teams: []string{"pay"}}
	ben   = envs.Actor{Name: "ben", UserID: "usr-ben", Role: envs.RoleMember, Team: "pay", Teams: []string{"pay"}}
	paula = envs.Actor{Name: "paula", UserID: "usr-paula", Role: envs.RoleAuthor, Team: "pay", Teams: []string{"pay"}} // team pay's admin
	ada   = envs.Actor{Name: "ada", UserID: "usr-ada", Role: envs.RoleAdmin}
)

// quotaService is a service of the faulty provider with the priced
// template, its jobs not running (launches stay pending), on clock.
func quotaService(t *testing.T, clock *testclock.Clock) (*envs.Service, *storage.DB) {
	t.Helper()
	db, cipher := openStore(t)
	svc, err := envs.New(envs.Config{Store: db, Cipher: cipher, Providers: []envs.Provider{newFaultyProvider(nil)}, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Publish(context.Background(), envs.System, []byte(pricedTemplate)); err != nil {
		t.Fatal(err)
	}
	return svc, db
}

func intp(n int) *int { return &n }

func dollars(t *testing.T, s string) *envs.Money {
	t.Helper()
	m, err := envs.ParseMoney(s)
	if err != nil {
		t.Fatal(err)
	}
	return &m
}

func launchPriced(svc *envs.Service, a envs.Actor, size, ttl string) (*envs.Environment, error) {
	return svc.Launch(context.Background(), a, envs.LaunchRequest{Template: "priced", TTL: ttl,
		Params: map[string]any{"size": size, "password": "pw"}})
}

func TestQuotaRefusals(t *testing.T) {
	type step struct {
		who          envs.Actor
		size, ttl    string
		extendBy     string // extend the previous environment of who instead
		destroyFirst bool   // destroy who's first environment before this step
		refused      string // "": allowed; else a part of the message
	}
	cases := []struct {
		name   string
		quotas []envs.Quota
		steps  []step
	}{
		{"a user's live environments", []envs.Quota{{Scope: envs.QuotaUser, Name: "ann", MaxLive: intp(2)}}, []step{
			{who: ann, size: "small"}, {who: ann, size: "small"},
			{who: ann, size: "small", refused: "user ann has 2 of 2 live environments; destroy one or ask an admin to approve"},
			{who: ben, size: "small"}, // ben has no limit
			{who: ann, size: "small", destroyFirst: true},
		}},
		{"a team's live environments, by the teams' default", []envs.Quota{{Scope: envs.QuotaTeam, Name: "*", MaxLive: intp(1)}}, []step{
			{who: ann, size: "small"},
			{who: ben, size: "small", refused: "team pay has 1 of 1 live environments"},
		}},
		{"a user's projected cost", []envs.Quota{{Scope: envs.QuotaUser, Name: "ann", MaxMonthly: dollars(t, "25")}}, []step{
			{who: ann, size: "small"}, {who: ann, size: "small"}, // $10 each
			{who: ann, size: "small", refused: "user ann's live environments would cost $30.00 over the next 30 days, over the limit of $25.00 a month"},
			{who: ann, size: "small", ttl: "5h"}, // $25 exactly
		}},
		{"a team's projected cost, by a parameter's price", []envs.Quota{{Scope: envs.QuotaTeam, Name: "pay", MaxMonthly: dollars(t, "40")}}, []step{
			{who: ann, size: "large", refused: "team pay's live environments would cost $50.00"}, // $5 x 10h
			{who: ben, size: "small"},
		}},
		{"an extend that raises the cost past a limit", []envs.Quota{{Scope: envs.QuotaUser, Name: "*", MaxMonthly: dollars(t, "25")}}, []step{
			{who: ann, size: "small"},
			{who: ann, extendBy: "20h", refused: "would cost $30.00"},
			{who: ann, extendBy: "15h"}, // $25
		}},
		{"a named row lifts the default", []envs.Quota{{Scope: envs.QuotaUser, Name: "*", MaxLive: intp(0)}, {Scope: envs.QuotaUser, Name: "ann"}}, []step{
			{who: ann, size: "small"},
			{who: ben, size: "small", refused: "user ben has 0 of 0 live environments"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			svc, _ := quotaService(t, testclock.New(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)))
			for _, q := range c.quotas {
				if err := svc.SetQuota(ctx, ada, q); err != nil {
					t.Fatal(err)
				}
			}
			mine := map[string][]*envs.Environment{}
			for i, s := range c.steps {
				if s.destroyFirst {
					if _, err := svc.Destroy(ctx, s.who, mine[s.who.Name][0].ID); err != nil {
						t.Fatal(err)
					}
				}
				var err error
				if s.extendBy != "" {
					list := mine[s.who.Name]
					_, err = svc.Extend(ctx, s.who, list[len(list)-1].ID, s.extendBy)
				} else {
					var env *envs.Environment
					if env, err = launchPriced(svc, s.who, s.size, s.ttl); err == nil {
						mine[s.who.Name] = append(mine[s.who.Name], env)
					}
				}
				switch {
				case s.refused == "" && err != nil:
					t.Fatalf("step %d (%s): %v, want it allowed", i, s.who.Name, err)
				case s.refused != "" && envs.ErrorCode(err) != envs.EQuota:
					t.Fatalf("step %d (%s): %v, want a quota refusal", i, s.who.Name, err)
				case s.refused != "" && !strings.Contains(envs.ErrorMessage(err), s.refused):
					t.Fatalf("step %d (%s): %q, want it to say %q", i, s.who.Name, envs.ErrorMessage(err), s.refused)
				}
			}
		})
	}
}

func TestQuotaValidation(t *testing.T) {
	svc, _ := quotaService(t, testclock.New(time.Now().UTC()))
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		q     envs.Quota
		field string
	}{
		{"scope", envs.Quota{Scope: "org", Name: "x"}, "scope"},
		{"name", envs.Quota{Scope: envs.QuotaUser, Name: " "}, "name"},
		{"negative count", envs.Quota{Scope: envs.QuotaTeam, Name: "pay", MaxLive: intp(-1)}, "max_live"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := svc.SetQuota(ctx, ada, c.q)
			if f := envs.ErrorFields(err); len(f) != 1 || f[0].Field != c.field {
				t.Errorf("SetQuota: %v, want an error on %s", err, c.field)
			}
		})
	}
	if err := svc.SetQuota(ctx, ann, envs.Quota{Scope: envs.QuotaUser, Name: "ann"}); envs.ErrorCode(err) != envs.EForbidden {
		t.Errorf("a member set a quota: %v", err)
	}
}

// TestQuotaConcurrentLaunches: with room for one more, launches at once
// let exactly one through (the quota's lock; run with .ci/with-postgres
// for PostgreSQL).
func TestQuotaConcurrentLaunches(t *testing.T) {
	ctx := context.Background()
	svc, _ := quotaService(t, testclock.New(time.Now().UTC()))
	if err := svc.SetQuota(ctx, ada, envs.Quota{Scope: envs.QuotaTeam, Name: "pay", MaxLive: intp(2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := launchPriced(svc, ben, "small", ""); err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		who := ann
		if i%2 == 1 {
			who = ben
		}
		wg.Go(func() { _, errs[i] = launchPriced(svc, who, "small", "") })
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, err := range errs {
		switch envs.ErrorCode(err) {
		case envs.EQuota:
			refused++
		default:
			if err != nil {
				t.Fatalf("launch: %v", err)
			}
			ok++
		}
	}
	if ok != 1 || refused != n-1 {
		t.Errorf("%d launched and %d refused, want 1 and %d", ok, refused, n-1)
	}
	live, err := svc.Environments(ctx, envs.Filter{Statuses: []envs.Status{envs.StatusPending}})
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 2 {
		t.Errorf("%d live environments, want 2 (the team's limit)", len(live))
	}
}

func TestApprovals(t *testing.T) {
	ctx := context.Background()
	svc, db := quotaService(t, testclock.New(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)))
	for _, q := range []envs.Quota{
		{Scope: envs.QuotaUser, Name: "ann", MaxLive: intp(1)},
		{Scope: envs.QuotaTeam, Name: "pay", MaxMonthly: dollars(t, "100")},
	} {
		if err := svc.SetQuota(ctx, ada, q); err != nil {
			t.Fatal(err)
		}
	}
	first, err := launchPriced(svc, ann, "small", "")
	if err != nil {
		t.Fatal(err)
	}
	launch := envs.LaunchRequest{Template: "priced", Name: "ann-two", Params: map[string]any{"size": "small", "password": "s3cret"}}
	if _, err := svc.Launch(ctx, ann, launch); envs.ErrorCode(err) != envs.EQuota {
		t.Fatalf("second launch: %v, want a quota refusal", err)
	}
	if _, err := svc.RequestApproval(ctx, ben, envs.ApprovalRequest{Kind: envs.ApprovalLaunch, Launch: launch}); envs.ErrorCode(err) != envs.EConflict {
		t.Errorf("ben, under no limit, asked for an approval: %v, want a conflict (just launch)", err)
	}
	ap, err := svc.RequestApproval(ctx, ann, envs.ApprovalRequest{Kind: envs.ApprovalLaunch, Launch: launch, Reason: "demo for Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if ap.Status != envs.ApprovalPending || ap.Team != "" || !strings.Contains(ap.Limit, "user ann has 1 of 1") {
		t.Errorf("request %+v, want pending, on ann's own limit", ap)
	}

	t.Run("nobody approves their own request, nor a member, nor a team admin a user's limit", func(t *testing.T) {
		for _, who := range []envs.Actor{ann, ben, paula} {
			if _, _, err := svc.Approve(ctx, who, ap.ID); envs.ErrorCode(err) != envs.EForbidden {
				t.Errorf("%s approved: %v, want forbidden", who.Name, err)
			}
		}
		self := ada
		self.UserID = ann.UserID // an admin account of the requester
		if _, _, err := svc.Approve(ctx, self, ap.ID); envs.ErrorCode(err) != envs.EForbidden || !strings.Contains(envs.ErrorMessage(err), "someone else") {
			t.Errorf("the requester approved as an admin: %v", err)
		}
	})

	var annTwo *envs.Environment
	t.Run("an admin's approval launches it once, as the requester, past the quota", func(t *testing.T) {
		var wg sync.WaitGroup
		envsOut := make([]*envs.Environment, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() { _, envsOut[i], errs[i] = svc.Approve(ctx, ada, ap.ID) })
		}
		wg.Wait()
		var env *envs.Environment
		for i := range 2 {
			if errs[i] == nil {
				if env != nil {
					t.Fatal("approved twice")
				}
				env = envsOut[i]
			} else if envs.ErrorCode(errs[i]) != envs.EConflict {
				t.Errorf("second approval: %v, want a conflict", errs[i])
			}
		}
		if env == nil {
			t.Fatalf("no approval went through: %v", errs)
		}
		annTwo = env
		if env.Name != "ann-two" || env.OwnerID != ann.UserID || env.Team != "pay" {
			t.Errorf("launched %s owned by %s (team %s), want ann-two of ann in pay", env.Name, env.OwnerID, env.Team)
		}
		got, err := svc.GetApproval(ctx, ann, ap.ID)
		if err != nil || got.Status != envs.ApprovalApproved || got.DecidedBy != "ada" || got.Result != env.ID {
			t.Errorf("approval %+v, %v; want approved by ada with %s", got, err, env.ID)
		}
		if _, _, err := svc.Approve(ctx, ada, ap.ID); envs.ErrorCode(err) != envs.EConflict {
			t.Errorf("approved again: %v, want a conflict", err)
		}
	})

	t.Run("a team admin approves an extend past the team's limit; a denial stays denied", func(t *testing.T) {
		// $10 projected each: 2 of ann's; an extend of 90h adds $90 > $100.
		if _, err := svc.Extend(ctx, ann, first.ID, "90h"); envs.ErrorCode(err) != envs.EQuota {
			t.Fatalf("extend: %v, want a quota refusal", err)
		}
		ext, err := svc.RequestApproval(ctx, ann, envs.ApprovalRequest{Kind: envs.ApprovalExtend, EnvironmentID: first.ID, TTL: "90h"})
		if err != nil {
			t.Fatal(err)
		}
		if ext.Team != "pay" {
			t.Fatalf("extend request on team %q, want pay", ext.Team)
		}
		if _, _, err := svc.Approve(ctx, ben, ext.ID); envs.ErrorCode(err) != envs.EForbidden {
			t.Errorf("ben (a member of pay) approved: %v", err)
		}
		_, env, err := svc.Approve(ctx, paula, ext.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := first.ExpiresAt.Add(90 * time.Hour); !env.ExpiresAt.Equal(want) {
			t.Errorf("expires %s, want %s", env.ExpiresAt, want)
		}
		if annTwo == nil {
			t.Fatal("the launch was not approved")
		}
		other, err := svc.RequestApproval(ctx, ann, envs.ApprovalRequest{Kind: envs.ApprovalExtend, EnvironmentID: annTwo.ID, TTL: "1h"})
		if err != nil {
			t.Fatal(err)
		}
		d, err := svc.Deny(ctx, ada, other.ID, "not this month")
		if err != nil || d.Status != envs.ApprovalDenied || d.Result != "not this month" {
			t.Fatalf("deny: %+v, %v", d, err)
		}
		if _, _, err := svc.Approve(ctx, ada, other.ID); envs.ErrorCode(err) != envs.EConflict {
			t.Errorf("approved a denied request: %v", err)
		}
	})

	t.Run("every step is audited", func(t *testing.T) {
		entries, err := db.AuditEntries(ctx, 200)
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, e := range entries {
			count[e.Action+" "+e.Result]++
		}
		for key, want := range map[string]int{
			"approval.request ok": 3, "approval.request conflict": 1, "approval.approve ok": 2,
			"approval.approve forbidden": 5, "approval.approve conflict": 3, "approval.deny ok": 1,
		} {
			if count[key] != want {
				t.Errorf("%d audit entries %q, want %d", count[key], key, want)
			}
		}
	})

	t.Run("a member sees their own requests, a team admin the team's", func(t *testing.T) {
		mine, err := svc.Approvals(ctx, ann)
		if err != nil || len(mine) != 3 {
			t.Errorf("ann sees %d requests (%v), want 3", len(mine), err)
		}
		team, err := svc.Approvals(ctx, paula)
		if err != nil || len(team) != 2 {
			t.Errorf("paula sees %d requests (%v), want the team's 2", len(team), err)
		}
		if none, _ := svc.Approvals(ctx, ben); len(none) != 0 {
			t.Errorf("ben sees %d requests, want none", len(none))
		}
	})
}

// TestSavingsAndCostReport: what the policies saved is the rate from the
// destroy request until created + ttl.max, by day; accrued and projected
// cost by team, user and template, on an injected clock.
func TestSavingsAndCostReport(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clock := testclock.New(t0)
	svc, db := quotaService(t, clock)
	a, _ := launchPriced(svc, ann, "small", "")   // $1/h, max at t0+100h
	b, _ := launchPriced(svc, ben, "large", "")   // $5/h
	c, _ := launchPriced(svc, ann, "small", "")   // destroyed by its user: no savings
	d, _ := launchPriced(svc, paula, "small", "") // stays live
	mark := func(id, cause string, at time.Time) {
		t.Helper()
		if _, err := db.SQL().ExecContext(ctx, rebind(db, `UPDATE environments SET status = 'destroyed', destroy_cause = ?, destroy_requested_at = ?, destroyed_at = ? WHERE id = ?`),
			cause, at, at, id); err != nil {
			t.Fatal(err)
		}
	}
	mark(a.ID, envs.CauseTTL, t0.Add(10*time.Hour))      // Dec 1 19:00: saves 90h x $1
	mark(b.ID, envs.CauseInactive, t0.Add(20*time.Hour)) // Dec 2 05:00: saves 80h x $5
	mark(c.ID, envs.CauseUser, t0.Add(time.Hour))
	clock.Add(48 * time.Hour) // Dec 3 09:00

	s, err := svc.Savings(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if s.TTL != 90_000_000 || s.Inactive != 400_000_000 || s.Total() != 490_000_000 || s.Destroyed != 2 {
		t.Errorf("saved %s by TTL, %s by inactivity (%d environments), want $90, $400 (2)", s.TTL, s.Inactive, s.Destroyed)
	}
	if len(s.Days) != 7 || !s.Days[6].Day.Equal(time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("days %v, want the 7 days to Dec 3", s.Days)
	}
	if s.Days[4].TTL != 90_000_000 || s.Days[5].Inactive != 400_000_000 || s.Days[6].Total() != 0 {
		t.Errorf("Dec 1 %v, Dec 2 %v, Dec 3 %v", s.Days[4], s.Days[5], s.Days[6])
	}
	if s, _ := svc.Savings(ctx, 1); s.Total() != 0 {
		t.Errorf("today alone saved %s, want nothing", s.Total())
	}

	rep, err := svc.CostReport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// ann: a ran 10h ($10), c 1h ($1); paula's d ran 48h ($48) and has
	// 10h - 48h left: expired, nothing projected (the reaper is late).
	if l := rep.Line(rep.ByUser, "ann"); l.Accrued != 11_000_000 || l.Projected != 0 || l.Count != 2 {
		t.Errorf("ann %+v, want $11 accrued over 2", l)
	}
	if l := rep.Line(rep.ByTeam, "pay"); l.Accrued != 11_000_000+100_000_000+48_000_000 || l.Live != 1 {
		t.Errorf("team pay %+v, want $159 accrued, 1 live", l)
	}
	if l := rep.Line(rep.ByTemplate, "priced"); l.Count != 4 {
		t.Errorf("template %+v, want 4 environments", l)
	}
	live, err := svc.Environment(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(-45 * time.Hour) // back to t0+3h: 7h left
	if got := live.ProjectedCost(clock.Now()); got != 7_000_000 {
		t.Errorf("projected %s, want $7", got)
	}
	if got := live.AccruedCost(clock.Now()); got != 3_000_000 {
		t.Errorf("accrued %s, want $3", got)
	}
}

// rebind turns ? placeholders into PostgreSQL's $n where needed.
func rebind(db *storage.DB, q string) string {
	if db.Dialect() != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + string(rune('0'+n)))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestDestroyCause: the reaper records "ttl", a person's destroy "user".
func TestDestroyCause(t *testing.T) {
	ctx := context.Background()
	clock := testclock.New(time.Now().UTC())
	db, cipher := openStore(t)
	svc := startFaulty(t, db, cipher, newFaultyProvider(nil), envs.Config{Clock: clock.Now})
	expiring := launchAs(t, svc, "faulty", "expiring", "1h", nil)
	mine := launchAs(t, svc, "faulty", "mine", "1h", nil)
	waitReady(t, svc, expiring.ID)
	waitReady(t, svc, mine.ID)
	if _, err := svc.Destroy(ctx, tester, mine.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Extend(ctx, tester, mine.ID, "30m"); err == nil {
		t.Fatal("extended a destroyed environment")
	}
	clock.Add(61 * time.Minute)
	for id, want := range map[string]string{expiring.ID: envs.CauseTTL, mine.ID: envs.CauseUser} {
		e := waitFor(t, svc, id, time.Now().Add(30*time.Second), func(e *envs.Environment) bool { return e.Status.Terminal() })
		if e.DestroyCause != want {
			t.Errorf("%s destroyed with cause %q, want %q", e.Name, e.DestroyCause, want)
		}
	}
}

// TestQuotaRelaunchAndReplace: a relaunch is a launch to the quotas; a
// replace is refused only when the new version's rate raises the cost
// past a limit, and the switch records the new rate.
func TestQuotaRelaunchAndReplace(t *testing.T) {
	ctx := context.Background()
	db, cipher := openStore(t)
	svc := startFaulty(t, db, cipher, newFaultyProvider(nil), envs.Config{})
	dearer := strings.NewReplacer("version: 1.0.0", "version: 1.1.0", "hourly: 1,", "hourly: 3,").Replace(pricedTemplate)
	cheaper := strings.NewReplacer("version: 1.0.0", "version: 1.2.0", "hourly: 1,", "hourly: 0.5,").Replace(pricedTemplate)
	for _, doc := range []string{pricedTemplate, dearer, cheaper} {
		if _, _, err := svc.Publish(ctx, envs.System, []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	// ann's $10 over 10h (1.0.0); the limit leaves room for $5 more.
	if err := svc.SetQuota(ctx, ada, envs.Quota{Scope: envs.QuotaUser, Name: "ann", MaxLive: intp(1), MaxMonthly: dollars(t, "15")}); err != nil {
		t.Fatal(err)
	}
	env, err := svc.Launch(ctx, ann, envs.LaunchRequest{Template: "priced", Version: "1.0.0", Params: map[string]any{"size": "small", "password": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, svc, env.ID)
	if _, err := svc.Relaunch(ctx, ann, envs.RelaunchRequest{Source: env.ID}); envs.ErrorCode(err) != envs.EQuota ||
		!strings.Contains(envs.ErrorMessage(err), "user ann has 1 of 1 live environments") {
		t.Errorf("relaunch past the count: %v, want a quota refusal", err)
	}
	if _, err := svc.Replace(ctx, ann, envs.ReplaceRequest{ID: env.ID, Version: "1.1.0"}); envs.ErrorCode(err) != envs.EQuota ||
		!strings.Contains(envs.ErrorMessage(err), "would cost $30.00") {
		t.Errorf("replace with a dearer version: %v, want a quota refusal naming $30.00", err)
	}
	if _, err := svc.Replace(ctx, ann, envs.ReplaceRequest{ID: env.ID, Version: "1.2.0"}); err != nil {
		t.Fatalf("replace with a cheaper version: %v", err)
	}
	got := waitReplaced(t, svc, env.ID, envs.ReplaceSwitched)
	if got.HourlyCost != 500_000 {
		t.Errorf("rate after the switch %s, want $0.50 (1.2.0's)", got.HourlyCost)
	}
}

// TestCostOverLongSpans: accrued and projected cost of one environment
// stay exact over years, at the smallest and the largest rates.
func TestCostOverLongSpans(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	year := 8760 * time.Hour
	for _, c := range []struct {
		name               string
		rate               string
		ran, left          time.Duration
		accrued, projected envs.Money
	}{
		{"a micro-dollar an hour for three years", "0.000001", 3 * year, year, 26_280, 8_760},
		{"twelve cents for a leap year and a second", "0.12", 8784*time.Hour + time.Second, 0, 1_054_080_033, 0},
		{"the highest rate for a decade", "100000", 10 * year, 10 * year, 876_000_000 * 10_000_000, 876_000_000 * 10_000_000},
	} {
		t.Run(c.name, func(t *testing.T) {
			now := t0.Add(c.ran)
			e := &envs.Environment{HourlyCost: *dollars(t, c.rate), CreatedAt: t0, ExpiresAt: now.Add(c.left), Status: envs.StatusReady}
			if got := e.AccruedCost(now); got != c.accrued {
				t.Errorf("accrued %d, want %d", got, c.accrued)
			}
			if got := e.ProjectedCost(now); got != c.projected {
				t.Errorf("projected %d, want %d", got, c.projected)
			}
			destroyed := t0.Add(c.ran / 2)
			e.DestroyedAt, e.Status = &destroyed, envs.StatusDestroyed
			if got, want := e.AccruedCost(now), e.HourlyCost.Over(c.ran/2); got != want || e.ProjectedCost(now) != 0 {
				t.Errorf("destroyed halfway: accrued %d, want %d, and nothing projected", got, want)
			}
		})
	}
}
