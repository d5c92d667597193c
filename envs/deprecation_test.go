package envs_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/internal/testclock"
)

func TestDeprecationDateIsValidated(t *testing.T) {
	ctx := context.Background()
	svc, _ := relaunchService(t)
	tomorrow := svc.Now().Add(24 * time.Hour).Format(time.DateOnly)
	for _, c := range []struct {
		name string
		req  envs.DeprecateRequest
		want []string // fields at fault
	}{
		{"a date without an action", envs.DeprecateRequest{Date: tomorrow}, []string{"action"}},
		{"an action without a date", envs.DeprecateRequest{Action: envs.DeprecationDestroy}, []string{"date"}},
		{"an unknown action", envs.DeprecateRequest{Date: tomorrow, Action: "archive"}, []string{"action"}},
		{"not a date", envs.DeprecateRequest{Date: "next week", Action: envs.DeprecationDestroy}, []string{"date"}},
		{"a date in the past", envs.DeprecateRequest{Date: "2001-01-01", Action: envs.DeprecationDestroy}, []string{"date"}},
		{"replace with no newer launchable version", envs.DeprecateRequest{Version: "1.2.0", Date: tomorrow, Action: envs.DeprecationReplace}, []string{"action"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := c.req
			req.Template = "vault"
			req.Version = cmpOr(req.Version, "1.0.0")
			err := svc.DeprecateVersion(ctx, envs.System, req)
			if envs.ErrorCode(err) != envs.EInvalid || !slices.Equal(fieldsOf(err), c.want) {
				t.Errorf("got %v (fields %q), want invalid naming %q", err, fieldsOf(err), c.want)
			}
		})
	}
	if err := svc.DeprecateVersion(ctx, carol, envs.DeprecateRequest{Template: "vault", Version: "1.0.0", Date: tomorrow, Action: envs.DeprecationDestroy}); envs.ErrorCode(err) != envs.EForbidden {
		t.Errorf("deprecate as a member of another team: %v, want forbidden", err)
	}
}

// After a deprecation date, the sweep acts once on each environment of the
// version (however often it runs): destroy destroys them, replace asks
// for a replace with the newest version; each gets an event and an audit
// entry naming the deprecation.
func TestDeprecationDateActsOnceOnTheEnvironments(t *testing.T) {
	ctx := context.Background()
	db, cipher := openStore(t)
	clk := testclock.New(time.Now().UTC())
	p := newFaultyProvider(nil)
	svc := startFaulty(t, db, cipher, p, envs.Config{Clock: clk.Now, SweepInterval: time.Hour})
	for _, v := range []string{"1.1.0", "1.2.0"} {
		if _, _, err := svc.Publish(ctx, envs.System, []byte(strings.Replace(faultyTemplate, "version: 1.0.0", "version: "+v, 1))); err != nil {
			t.Fatal(err)
		}
	}
	launch := func(version, name string) *envs.Environment {
		t.Helper()
		e, err := svc.Launch(ctx, tester, envs.LaunchRequest{Template: "faulty", Version: version, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return waitFor(t, svc, e.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool { return e.Status == envs.StatusReady })
	}
	doomed := []*envs.Environment{launch("1.0.0", "old-a"), launch("1.0.0", "old-b")}
	toReplace := launch("1.1.0", "mid")
	kept := launch("1.2.0", "new")

	date := clk.Now().Add(time.Minute)
	if err := svc.DeprecateVersion(ctx, envs.System, envs.DeprecateRequest{Template: "faulty", Version: "1.0.0", Date: date.Format(time.RFC3339), Action: envs.DeprecationDestroy}); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeprecateVersion(ctx, envs.System, envs.DeprecateRequest{Template: "faulty", Version: "1.1.0", Date: date.Format(time.RFC3339), Action: envs.DeprecationReplace}); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Environment(ctx, doomed[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if st := got.VersionState; !st.Deprecated || st.DeprecationAction != envs.DeprecationDestroy || st.DeprecationDate == nil || !st.DeprecationDate.Equal(date.Truncate(time.Second)) || st.Newer != "1.2.0" {
		t.Errorf("version state before the date: %+v", st)
	}
	if n, err := svc.ActOnDueDeprecations(ctx); err != nil || n != 0 {
		t.Fatalf("before the date: queued %d, %v; want 0", n, err)
	}

	clk.Add(2 * time.Minute)
	results := make(chan int, 3)
	for range 3 { // as replicas would, at once
		go func() {
			n, err := svc.ActOnDueDeprecations(ctx)
			if err != nil {
				t.Error(err)
			}
			results <- n
		}()
	}
	total := 0
	for range 3 {
		total += <-results
	}
	if total != 3 {
		t.Errorf("queued %d environments in all, want 3 (two to destroy, one to replace), each once", total)
	}
	for _, e := range doomed {
		waitFor(t, svc, e.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool { return e.Status == envs.StatusDestroyed })
		if !hasEvent(t, svc, e.ID, "Destroy requested: faulty@1.0.0 is deprecated and its deprecation date") {
			t.Errorf("%s: no event naming the deprecation in %q", e.Name, messages(t, svc, e.ID))
		}
	}
	// The replace itself is another branch's (envs.Replace); until it is
	// there it refuses, and the refusal is recorded.
	deadline := time.Now().Add(20 * time.Second)
	for !hasEvent(t, svc, toReplace.ID, "Not replaced for the deprecation of faulty@1.1.0: ") && !hasEvent(t, svc, toReplace.ID, "Replacing with 1.2.0: ") {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no replace event in %q", toReplace.Name, messages(t, svc, toReplace.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if e, _ := svc.Environment(ctx, kept.ID); e.Status != envs.StatusReady {
		t.Errorf("the environment on 1.2.0 is %s, want ready", e.Status)
	}
	entries, err := db.AuditEntries(ctx, 200)
	if err != nil {
		t.Fatal(err)
	}
	audited := map[string]int{}
	for _, a := range entries {
		if strings.HasPrefix(a.Detail, "deprecation of ") || a.Action == "template.deprecation_due" {
			audited[a.Action+" "+a.Target]++
		}
	}
	for _, want := range []string{"environment.destroy " + doomed[0].ID, "environment.destroy " + doomed[1].ID,
		"environment.replace " + toReplace.ID, "template.deprecation_due faulty@1.0.0", "template.deprecation_due faulty@1.1.0"} {
		if audited[want] != 1 {
			t.Errorf("audit %q: %d entries, want 1 (all: %v)", want, audited[want], audited)
		}
	}
}

// A deprecation date's replace that fails, or is refused, is tried again
// after a backoff (doubled each time, bounded), each try recorded with
// its reason and the next one on the environment; the retry is made once
// however many replicas sweep, and the clock is the test's: no waiting
// for the backoff.
func TestDeprecationReplaceIsRetried(t *testing.T) {
	ctx := context.Background()
	db, cipher := openStore(t)
	clk := testclock.New(time.Now().UTC().Truncate(time.Second))
	p := newFaultyProvider(map[string]plan{
		"flaky":  {provision: script{faults: []fault{fine, fail}, then: fine}}, // its first replace fails
		"broken": {provision: always(fail)},                                    // failed: a replace is refused
	})
	svc := startFaulty(t, db, cipher, p, envs.Config{Clock: clk.Now, SweepInterval: time.Hour, ProvisionAttempts: 1,
		DeprecationAttempts: 3, DeprecationRetryDelay: 10 * time.Minute})
	if _, _, err := svc.Publish(ctx, envs.System, []byte(strings.Replace(faultyTemplate, "version: 1.0.0", "version: 1.1.0", 1))); err != nil {
		t.Fatal(err)
	}
	launch := func(name string, want envs.Status) *envs.Environment {
		t.Helper()
		e, err := svc.Launch(ctx, tester, envs.LaunchRequest{Template: "faulty", Version: "1.0.0", Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return waitFor(t, svc, e.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool { return e.Status == want })
	}
	flaky, broken := launch("flaky", envs.StatusReady), launch("broken", envs.StatusFailed)
	if err := svc.DeprecateVersion(ctx, envs.System, envs.DeprecateRequest{Template: "faulty", Version: "1.0.0",
		Date: clk.Now().Add(time.Minute).Format(time.RFC3339), Action: envs.DeprecationReplace}); err != nil {
		t.Fatal(err)
	}
	if e, _ := svc.Environment(ctx, flaky.ID); e.Deprecation != nil {
		t.Errorf("before the date: deprecation progress %+v, want none", e.Deprecation)
	}
	clk.Add(2 * time.Minute)
	if n, err := svc.ActOnDueDeprecations(ctx); err != nil || n != 2 {
		t.Fatalf("at the date: queued %d, %v; want 2", n, err)
	}

	// progress waits until an environment's deprecation progress says so.
	progress := func(e *envs.Environment, what string, done func(*envs.DeprecationProgress) bool) *envs.DeprecationProgress {
		t.Helper()
		got := waitFor(t, svc, e.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool {
			return e.Deprecation != nil && done(e.Deprecation)
		})
		return got.Deprecation
	}
	at := func(d time.Duration) time.Time { return clk.Now().Add(d) }
	// The first tries: flaky's replace fails, broken's is refused; both
	// wait the first backoff.
	first := progress(flaky, "its replace failed", func(p *envs.DeprecationProgress) bool { return p.State == envs.ActWaiting && p.Attempts == 1 })
	if first.NextAt == nil || !first.NextAt.Equal(at(10*time.Minute)) || !strings.Contains(first.Reason, "the replace with 1.1.0 failed: ") ||
		!strings.Contains(first.Reason, "quota exceeded") || first.MaxAttempts != 3 || first.Target != "1.1.0" {
		t.Errorf("flaky after its failed replace: %+v; want waiting until %s, the replace's failure as the reason", first, at(10*time.Minute))
	}
	if e, _ := svc.Environment(ctx, flaky.ID); e.Version != "1.0.0" || e.Status != envs.StatusReady {
		t.Errorf("flaky after its failed replace: %s on %s, want ready on 1.0.0", e.Status, e.Version)
	}
	refused := progress(broken, "refused", func(p *envs.DeprecationProgress) bool { return p.Attempts == 1 })
	if refused.State != envs.ActWaiting || refused.NextAt == nil || !refused.NextAt.Equal(at(10*time.Minute)) ||
		!strings.Contains(refused.Reason, "only a ready environment can be replaced") {
		t.Errorf("broken after its refused replace: %+v; want waiting until %s, the refusal as the reason", refused, at(10*time.Minute))
	}
	if !hasEvent(t, svc, flaky.ID, "Not replaced for the deprecation of faulty@1.0.0: the replace with 1.1.0 failed: ") {
		t.Errorf("flaky's timeline %q: no line for the failed try", messages(t, svc, flaky.ID))
	}
	if due, err := db.DueDeprecationActs(ctx, at(10*time.Minute-time.Second), 10); err != nil || len(due) != 0 {
		t.Errorf("due before the backoff: %d acts, %v; want none", len(due), err)
	}

	// The backoff over, three replicas sweep at once: one retry each.
	clk.Add(10 * time.Minute)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := svc.ActOnDueDeprecations(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	replaced := waitFor(t, svc, flaky.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool { return e.Version == "1.1.0" })
	if replaced.Deprecation != nil || replaced.Status != envs.StatusReady {
		t.Errorf("flaky replaced: %s, deprecation progress %+v; want ready, none", replaced.Status, replaced.Deprecation)
	}
	second := progress(broken, "refused again", func(p *envs.DeprecationProgress) bool { return p.Attempts == 2 })
	if second.State != envs.ActWaiting || second.NextAt == nil || !second.NextAt.Equal(at(20*time.Minute)) {
		t.Errorf("broken after its second try: %+v; want waiting until %s (the backoff doubled)", second, at(20*time.Minute))
	}

	// The last try: broken is given up on, and nothing more is tried.
	clk.Add(20 * time.Minute)
	if _, err := svc.ActOnDueDeprecations(ctx); err != nil {
		t.Fatal(err)
	}
	last := progress(broken, "given up", func(p *envs.DeprecationProgress) bool { return p.State == envs.ActGaveUp })
	if last.Attempts != 3 || last.NextAt != nil {
		t.Errorf("broken given up: %+v; want 3 attempts, no next try", last)
	}
	if due, err := db.DueDeprecationActs(ctx, at(48*time.Hour), 10); err != nil || len(due) != 0 {
		t.Errorf("due after all: %d acts, %v; want none", len(due), err)
	}
	count := func(id, prefix string) int {
		n := 0
		for _, m := range messages(t, svc, id) {
			if strings.HasPrefix(m, prefix) {
				n++
			}
		}
		return n
	}
	if n := count(flaky.ID, "Replacing with 1.1.0: faulty@1.0.0 is deprecated"); n != 2 {
		t.Errorf("flaky: %d replace tries in %q, want 2 (the failed one, the retry)", n, messages(t, svc, flaky.ID))
	}
	if n := p.callsOf("flaky")["Provision"]; n != 3 {
		t.Errorf("flaky: %d provisions, want 3 (the launch, two replaces)", n)
	}
	if n := count(broken.ID, "Not replaced for the deprecation of faulty@1.0.0: "); n != 3 {
		t.Errorf("broken: %d refusals in %q, want 3", n, messages(t, svc, broken.ID))
	}
	entries, err := db.AuditEntries(ctx, 200)
	if err != nil {
		t.Fatal(err)
	}
	tries := 0
	for _, a := range entries {
		if a.Target == broken.ID && strings.HasPrefix(a.Detail, "deprecation of faulty@1.0.0") {
			tries++
		}
	}
	if tries != 3 {
		t.Errorf("broken: %d audited tries, want 3", tries)
	}
}
