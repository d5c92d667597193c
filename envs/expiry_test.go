package envs_test

import (
	"context"
	"encoding/json"
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

// warnedTemplate names no expiry_warnings: the defaults, 1h and 10m.
const warnedTemplate = `name: warned
version: 1.0.0
kind: demo
description: warned before it expires
owner: tests
provider: faulty
ttl: {default: 4h, max: 24h}
stack: {}
`

const testExternalURL = "https://mayfly.example.com/"

// warnedReplicas starts n services of the faulty provider on one database
// with one fake clock, publishes warnedTemplate, and records tester as a
// user (links act as the owner). A huge reapInterval keeps the reaper's
// own loop out of the way (it runs once, at start).
func warnedReplicas(t *testing.T, n int, clock *testclock.Clock, reapInterval time.Duration) ([]*envs.Service, *storage.DB) {
	t.Helper()
	db, cipher := openStore(t)
	now := clock.Now()
	if err := db.UpsertUser(context.Background(), &storage.User{ID: tester.UserID, Issuer: "https://idp.example.com", Subject: "tester",
		Email: "tester@example.com", GroupsJSON: "[]", Role: string(envs.RoleMember), CreatedAt: now, LastLoginAt: now}); err != nil {
		t.Fatal(err)
	}
	var out []*envs.Service
	for range n {
		out = append(out, startFaulty(t, db, cipher, newFaultyProvider(nil), envs.Config{Clock: clock.Now,
			LifecycleInterval: 1000 * time.Hour, ReapInterval: reapInterval, ExternalURL: testExternalURL}))
	}
	if _, _, err := out[0].Publish(context.Background(), envs.System, []byte(warnedTemplate)); err != nil {
		t.Fatal(err)
	}
	// The tester has a channel: a notice with nowhere to go is not queued.
	secret := notify.NewSecret()
	rcv := notifytest.StartReceiver(t, secret)
	if _, _, err := out[0].AddNotifyChannel(context.Background(), tester, envs.ChannelRequest{Kind: envs.ChannelWebhook, URL: rcv.URL, Secret: secret,
		Events: []string{string(envs.NoticeExpiringSoon)}}); err != nil {
		t.Fatal(err)
	}
	// The loop's first pass is over before the test launches anything:
	// with a huge interval, warnings are then sent only by warnAll.
	for _, svc := range out {
		if !svc.WaitReaperPass() {
			t.Fatal("the reaper's loop made no pass")
		}
	}
	return out, db
}

func warnAll(t *testing.T, svcs ...*envs.Service) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(svcs))
	for i, svc := range svcs {
		wg.Go(func() { errs[i] = svc.WarnExpiring(context.Background()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("WarnExpiring: %v", err)
		}
	}
}

// queuedNotices reads the expiry notices committed to the job queue, in
// order: the outbox the fan-out delivers from.
func queuedNotices(t *testing.T, db *storage.DB) func() []envs.Notice {
	return func() []envs.Notice {
		t.Helper()
		var out []envs.Notice
		for _, raw := range queuedJobArgs(t, db, "notice") {
			var a struct{ Notice envs.Notice }
			if err := json.Unmarshal(raw, &a); err != nil {
				t.Fatal(err)
			}
			if a.Notice.Event == envs.NoticeExpiringSoon {
				out = append(out, a.Notice)
			}
		}
		return out
	}
}

func noticesFor(got func() []envs.Notice, id string) []envs.Notice {
	var out []envs.Notice
	for _, n := range got() {
		if n.EnvironmentID == id {
			out = append(out, n)
		}
	}
	return out
}

// TestExpiryWarningsOnceAtTheirLeads: three replicas on one database warn
// an environment once an hour and once ten minutes before its expiry, to
// its owner and team with three signed links; an extend re-arms the
// warnings for the new deadline, except a lead already past that was sent
// for the old one.
func TestExpiryWarningsOnceAtTheirLeads(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	clock := testclock.New(t0)
	svcs, db := warnedReplicas(t, 3, clock, time.Hour)
	got := queuedNotices(t, db)
	svc := svcs[0]
	env := launchAs(t, svc, "warned", "warned-one", "", nil)
	waitReady(t, svc, env.ID)

	steps := []struct {
		name    string
		at      time.Duration
		extend  string
		notices int
		soon    bool
	}{
		{"not warned a second before the first lead", 3*time.Hour - time.Second, "", 0, false},
		{"warned an hour before", 3 * time.Hour, "", 1, true},
		{"once however often the pass runs", 3*time.Hour + time.Minute, "", 1, true},
		{"warned ten minutes before", 3*time.Hour + 50*time.Minute, "", 2, true},
		// The new deadline is 4h10m: its 1h lead (3h10m) was sent for the
		// old deadline, its 10m lead (4h) is ahead.
		{"extended by ten minutes", 3*time.Hour + 55*time.Minute, "10m", 2, true},
		{"the 10m lead of the new deadline", 4 * time.Hour, "", 3, true},
		{"nothing more before the new deadline", 4*time.Hour + 9*time.Minute, "", 3, true},
	}
	for _, st := range steps {
		clock.Set(t0.Add(st.at))
		if st.extend != "" {
			if _, err := svc.Extend(ctx, tester, env.ID, st.extend); err != nil {
				t.Fatal(err)
			}
		}
		warnAll(t, svcs...)
		if n := len(noticesFor(got, env.ID)); n != st.notices {
			t.Errorf("%s: %d notices, want %d", st.name, n, st.notices)
		}
		if n := countEvents(t, svc, env.ID, "Expires in "); n != st.notices {
			t.Errorf("%s: %d warning events, want %d: %q", st.name, n, st.notices, messages(t, svc, env.ID))
		}
		e, err := svcs[2].Environment(ctx, env.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.Expiry.Soon != st.soon {
			t.Errorf("%s: expires soon %v, want %v", st.name, e.Expiry.Soon, st.soon)
		}
		if (e.Expiry.WarnedAt != nil) != (st.notices > 0 && st.extend == "") {
			t.Errorf("%s: warned at %v with %d notices", st.name, e.Expiry.WarnedAt, st.notices)
		}
	}
	ns := noticesFor(got, env.ID)
	wantText := []string{"Expires in 1h0m", "Expires in 10 min", "Expires in 10 min"}
	for i, n := range ns {
		if n.Event != envs.NoticeExpiringSoon || n.UserID != tester.UserID || n.Team != tester.Team {
			t.Errorf("notice %d: %+v", i, n)
		}
		if i < len(wantText) && !strings.HasPrefix(n.Text, strings.Replace(wantText[i], "1h0m", "1h", 1)) {
			t.Errorf("notice %d text %q, want %q", i, n.Text, wantText[i])
		}
		var labels []string
		for _, l := range n.Links {
			labels = append(labels, l.Label)
			if !strings.HasPrefix(l.URL, "https://mayfly.example.com/links/lnk-") {
				t.Errorf("notice %d: link %q is not under the external URL", i, l.URL)
			}
		}
		if len(labels) != 3 || labels[0] != "Extend by 4h" || !strings.HasPrefix(labels[1], "Keep until ") || labels[2] != "Destroy now" {
			t.Errorf("notice %d: links %q", i, labels)
		}
	}
}

// TestShortTTLIsWarnedBeforeTheReaperDestroys: a TTL shorter than every
// lead is warned once, at launch, with its links; an environment that
// expires before its warning was claimed (the reaper was down through
// it) is warned once, late, and only then destroyed.
func TestShortTTLIsWarnedBeforeTheReaperDestroys(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	clock := testclock.New(t0)
	svcs, db := warnedReplicas(t, 1, clock, 1000*time.Hour)
	got := queuedNotices(t, db)
	svc := svcs[0]
	short := launchAs(t, svc, "warned", "warned-short", "5m", nil)
	warnAll(t, svc)
	ns := noticesFor(got, short.ID)
	if len(ns) != 1 || !strings.HasPrefix(ns[0].Text, "Expires in 5 min") || len(ns[0].Links) != 3 {
		t.Fatalf("notices %+v, want one warning at launch, with its links", ns)
	}
	late := launchAs(t, svc, "warned", "warned-late", "5m", nil)
	waitReady(t, svc, short.ID)
	waitReady(t, svc, late.ID)

	clock.Set(t0.Add(20 * time.Minute)) // long expired: the reaper was down
	if n, err := svc.ReapExpired(ctx); err != nil || n != 1 {
		t.Fatalf("reaped %d (%v), want only the one warned", n, err)
	}
	if e, _ := svc.Environment(ctx, late.ID); e.Status != envs.StatusReady {
		t.Fatalf("status %s before its warning, want ready", e.Status)
	}
	warnAll(t, svc)
	ns = noticesFor(got, late.ID)
	if len(ns) != 1 || !strings.HasPrefix(ns[0].Text, "Expired at ") || len(ns[0].Links) != 0 {
		t.Fatalf("notices %+v, want one late warning without links", ns)
	}
	if n, err := svc.ReapExpired(ctx); err != nil || n != 1 {
		t.Fatalf("reaped %d (%v) after the warning, want 1", n, err)
	}
	msgs := messages(t, svc, late.ID)
	warned, expired := -1, -1
	for i, m := range msgs {
		if strings.HasPrefix(m, "Expired at ") {
			warned = i
		}
		if strings.HasPrefix(m, "TTL expired") {
			expired = i
		}
	}
	if warned < 0 || expired < warned {
		t.Errorf("timeline %q: want the warning before the expiry", msgs)
	}
	warnAll(t, svc)
	if n := len(noticesFor(got, late.ID)) + len(noticesFor(got, short.ID)); n != 2 {
		t.Errorf("%d notices after the destroys, want still 2", n)
	}
}

// TestExpiryWarningsOff: expiry_warnings: [] arms nothing and does not
// hold the reaper back.
func TestExpiryWarningsOff(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	clock := testclock.New(t0)
	svcs, db := warnedReplicas(t, 1, clock, 1000*time.Hour)
	got := queuedNotices(t, db)
	svc := svcs[0]
	off := strings.Replace(strings.Replace(warnedTemplate, "name: warned", "name: unwarned", 1), "stack: {}", "expiry_warnings: []\nstack: {}", 1)
	if _, _, err := svc.Publish(ctx, envs.System, []byte(off)); err != nil {
		t.Fatal(err)
	}
	env := launchAs(t, svc, "unwarned", "unwarned-one", "", nil)
	waitReady(t, svc, env.ID)
	clock.Set(t0.Add(3*time.Hour + 55*time.Minute))
	warnAll(t, svc)
	if e, _ := svc.Environment(ctx, env.ID); e.Expiry.Soon || len(e.Expiry.Leads) != 0 {
		t.Errorf("expiry %+v, want no warnings", e.Expiry)
	}
	clock.Set(t0.Add(4 * time.Hour))
	if n, err := svc.ReapExpired(ctx); err != nil || n != 1 {
		t.Fatalf("reaped %d (%v), want 1", n, err)
	}
	if n := len(noticesFor(got, env.ID)); n != 0 {
		t.Errorf("%d notices, want none", n)
	}
}

func TestExpiryWarningsAreValidated(t *testing.T) {
	cases := []struct {
		name, field, policy string
	}{
		{"not a list", "expiry_warnings", "expiry_warnings: 1h"},
		{"not a duration", "expiry_warnings[1]", "expiry_warnings: [1h, soon]"},
		{"zero", "expiry_warnings[0]", "expiry_warnings: [0s]"},
		{"negative", "expiry_warnings[0]", "expiry_warnings: [-5m]"},
		{"not shorter than ttl.max", "expiry_warnings[0]", "expiry_warnings: [24h]"},
		{"twice", "expiry_warnings[2]", "expiry_warnings: [1h, 10m, 60m]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(warnedTemplate, "stack: {}", c.policy+"\nstack: {}", 1)
			_, err := envs.ParseSpec([]byte(src))
			if err == nil {
				t.Fatal("accepted")
			}
			fields := envs.ErrorFields(err)
			if len(fields) != 1 || fields[0].Field != c.field || fields[0].Line != 8 {
				t.Errorf("fields %+v, want %s at line 8", fields, c.field)
			}
		})
	}
	for _, c := range []struct {
		name, policy string
		want         []time.Duration
		digest       bool
	}{
		{"absent: the defaults", "", []time.Duration{time.Hour, 10 * time.Minute}, false},
		{"none", "expiry_warnings: []", []time.Duration{}, true},
		{"sorted longest first", "expiry_warnings: [5m, 2h, 30m]", []time.Duration{2 * time.Hour, 30 * time.Minute, 5 * time.Minute}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			plain, err := envs.ParseSpec([]byte(warnedTemplate))
			if err != nil {
				t.Fatal(err)
			}
			spec, err := envs.ParseSpec([]byte(strings.Replace(warnedTemplate, "stack: {}", c.policy+"\nstack: {}", 1)))
			if err != nil {
				t.Fatal(err)
			}
			if got := spec.WarningLeads(); len(got) != len(c.want) || (len(got) > 0 && !equalDurations(got, c.want)) {
				t.Errorf("leads %v, want %v", got, c.want)
			}
			if changed := spec.Digest() != plain.Digest(); changed != c.digest {
				t.Errorf("digest changed %v, want %v", changed, c.digest)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func linkToken(t *testing.T, n envs.Notice, label string) string {
	t.Helper()
	for _, l := range n.Links {
		if strings.HasPrefix(l.Label, label) {
			_, token, ok := strings.Cut(l.URL, envs.LinkPath)
			if !ok {
				t.Fatalf("link %q is not under %s", l.URL, envs.LinkPath)
			}
			return token
		}
	}
	t.Fatalf("no %q link in %+v", label, n.Links)
	return ""
}

// TestOneClickLinks: a warning's links show what they do without doing
// it, act once as the owner, and are refused when tampered with, reused,
// expired or superseded by a new deadline; uses and refusals are audited
// without the token.
func TestOneClickLinks(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	clock := testclock.New(t0)
	svcs, db := warnedReplicas(t, 1, clock, time.Hour)
	got := queuedNotices(t, db)
	svc := svcs[0]
	env := launchAs(t, svc, "warned", "linked", "", nil)
	other := launchAs(t, svc, "warned", "linked-other", "", nil)
	third := launchAs(t, svc, "warned", "linked-third", "", nil)
	waitReady(t, svc, env.ID)
	waitReady(t, svc, other.ID)
	waitReady(t, svc, third.ID)
	clock.Set(t0.Add(3 * time.Hour))
	warnAll(t, svc)
	first := noticesFor(got, env.ID)
	if len(first) != 1 {
		t.Fatalf("%d notices, want 1", len(first))
	}
	extend, keep := linkToken(t, first[0], "Extend"), linkToken(t, first[0], "Keep")
	refused := func(name, token string, code envs.Code, msg string) {
		t.Helper()
		for _, use := range []bool{false, true} {
			var err error
			if use {
				_, _, err = svc.UseLink(ctx, token, "192.0.2.1")
			} else {
				_, err = svc.OpenLink(ctx, token, "192.0.2.1")
			}
			if envs.ErrorCode(err) != code || !strings.Contains(envs.ErrorMessage(err), msg) {
				t.Errorf("%s (use %v): %v, want %s saying %q", name, use, err, code, msg)
			}
		}
	}
	// Not the last character: of its six bits, two are padding that
	// base64 decoding ignores.
	last := extend[len(extend)-2 : len(extend)-1]
	flipped := "A"
	if last == "A" {
		flipped = "B"
	}
	id, sig, _ := strings.Cut(extend, ".")
	keepID, _, _ := strings.Cut(keep, ".")
	refused("tampered signature", extend[:len(extend)-2]+flipped+extend[len(extend)-1:], envs.EForbidden, "not valid")
	refused("another link's signature", keepID+"."+sig, envs.EForbidden, "not valid")
	refused("no signature", id, envs.EForbidden, "not valid")
	refused("unknown link", "lnk-nothing."+sig, envs.EForbidden, "not valid")

	l, err := svc.OpenLink(ctx, extend, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if l.Action != envs.LinkExtend || l.By != 4*time.Hour || !l.NewExpiry.Equal(t0.Add(8*time.Hour)) {
		t.Errorf("open: %+v, want extend by 4h to %s", l, t0.Add(8*time.Hour))
	}
	if e, _ := svc.Environment(ctx, env.ID); !e.ExpiresAt.Equal(t0.Add(4 * time.Hour)) {
		t.Errorf("opening the link changed the expiry to %s", e.ExpiresAt)
	}
	_, e, err := svc.UseLink(ctx, extend, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if !e.ExpiresAt.Equal(t0.Add(8 * time.Hour)) {
		t.Errorf("extended to %s, want %s", e.ExpiresAt, t0.Add(8*time.Hour))
	}
	refused("used again", extend, envs.EConflict, "used already")
	refused("sent for the old deadline", keep, envs.EConflict, "now expires at")

	destroy := linkToken(t, noticesFor(got, other.ID)[0], "Destroy")
	if _, e, err = svc.UseLink(ctx, destroy, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if e.Status != envs.StatusDestroying && e.Status != envs.StatusDestroyed {
		t.Errorf("after the destroy link: %s", e.Status)
	}

	// The owner's rights now, not when the link was sent: a viewer cannot
	// extend, and the refused link is not spent.
	setRole := func(role envs.Role) {
		t.Helper()
		now := clock.Now()
		if err := db.UpsertUser(ctx, &storage.User{Issuer: "https://idp.example.com", Subject: "tester", Email: "tester@example.com",
			GroupsJSON: "[]", Role: string(role), CreatedAt: now, LastLoginAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	thirdExtend := linkToken(t, noticesFor(got, third.ID)[0], "Extend")
	setRole(envs.RoleViewer)
	if _, _, err := svc.UseLink(ctx, thirdExtend, "192.0.2.1"); envs.ErrorCode(err) != envs.EForbidden || !strings.Contains(envs.ErrorMessage(err), "member") {
		t.Errorf("the owner is a viewer now: %v, want forbidden, needing the member role", err)
	}
	setRole(envs.RoleMember)
	if _, e, err = svc.UseLink(ctx, thirdExtend, "192.0.2.1"); err != nil || !e.ExpiresAt.Equal(t0.Add(8*time.Hour)) {
		t.Fatalf("a member again: %v, %v; want extended to %s", e, err, t0.Add(8*time.Hour))
	}

	clock.Set(t0.Add(7 * time.Hour))
	warnAll(t, svc)
	second := noticesFor(got, env.ID)
	if len(second) != 2 {
		t.Fatalf("%d notices after the extend's first lead, want 2", len(second))
	}
	clock.Set(t0.Add(8 * time.Hour)) // the reaper is held off by its hour-long interval
	refused("expired", linkToken(t, second[1], "Keep"), envs.EConflict, "expired at")
	clock.Set(t0.Add(7*time.Hour + 30*time.Minute))
	if _, e, err = svc.UseLink(ctx, linkToken(t, second[1], "Keep"), "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if !e.ExpiresAt.Equal(t0.Add(24*time.Hour)) || e.ExtendableBy() != 0 {
		t.Errorf("kept until %s, want the maximum %s", e.ExpiresAt, t0.Add(24*time.Hour))
	}

	entries, err := db.AuditEntries(ctx, 200)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, a := range entries {
		if strings.HasPrefix(a.Action, "link.") {
			counts[a.Action]++
			if strings.Contains(a.Target, ".") || strings.Contains(a.Detail, sig) {
				t.Errorf("audit entry %+v shows a token", a)
			}
		}
		if a.Action == "link.use" && (a.Actor != "tester@example.com" || !strings.HasPrefix(a.Via, "link lnk-")) {
			t.Errorf("link use audited as %q via %q, want the owner via the link", a.Actor, a.Via)
		}
		if a.Action == "environment.extend" && a.Target == env.ID && !strings.HasPrefix(a.Via, "link ") {
			t.Errorf("extend audited via %q, want the link", a.Via)
		}
	}
	if counts["link.use"] != 4 || counts["link.refused"] != 15 {
		t.Errorf("audited %v, want 4 uses and 15 refusals", counts)
	}
}
