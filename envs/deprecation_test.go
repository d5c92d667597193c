package envs_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
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
	clk := &clock{t: time.Now().UTC()}
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
