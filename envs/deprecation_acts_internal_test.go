package envs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/internal/testclock"
	"github.com/mayflyhq/mayfly/storage"
)

// One try of a deprecation act from each state it can be found in: what
// the row says afterwards. The cases the retry test cannot reach through
// the sweep: the backstop settling a replace whose outcome was not
// recorded, a replace still building, an environment that left the
// version, and a job queued before acts were recorded.
func TestDeprecationActTries(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	c, err := NewCipher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	clk := testclock.New(time.Now().UTC().Truncate(time.Second))
	s, err := New(Config{Store: db, Cipher: c, Providers: []Provider{instantProvider{}}, PollInterval: 10 * time.Millisecond,
		Clock: clk.Now, SweepInterval: time.Hour, ProvisionTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, ver := range []string{"1.0.0", "1.1.0"} {
		if _, _, err := s.Publish(ctx, System, []byte(strings.Replace(rolloutTemplate, "1.0.0", ver, 1))); err != nil {
			t.Fatal(err)
		}
	}
	runService(t, s)
	envs := map[string]*Environment{}
	for _, name := range []string{"settled", "building", "moved", "legacy"} {
		envs[name] = launchReady(t, s, name, "1.0.0", nil)
	}
	if err := s.DeprecateVersion(ctx, System, DeprecateRequest{Template: "web", Version: "1.0.0",
		Date: clk.Now().Add(time.Minute).Format(time.RFC3339), Action: DeprecationReplace}); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Minute)
	versionID := envs["settled"].VersionID
	now := clk.Now()
	past := now.Add(-time.Second)
	stack := func(e *Environment, id, status, reason string, failed bool) {
		t.Helper()
		st := &storage.Stack{ID: id, EnvironmentID: e.ID, Version: "1.1.0", VersionID: versionID + 1, Status: status, Reason: reason,
			Params: "{}", Outputs: "{}", Facts: "{}", Attempt: 1, CreatedAt: now, UpdatedAt: now}
		if failed {
			st.FailedAt = &now
		}
		if err := db.CreateStack(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	act := func(e *Environment, version int64, state, stackID string) {
		t.Helper()
		a := storage.DeprecationAct{EnvironmentID: e.ID, VersionID: version, Action: "replace", State: state, Attempts: 1,
			Target: "1.1.0", StackID: stackID, NextAt: &past, TriedAt: &past, CreatedAt: past, UpdatedAt: past}
		if err := db.CreateDeprecationActs(ctx, []storage.DeprecationAct{a}); err != nil {
			t.Fatal(err)
		}
	}
	stack(envs["settled"], "stk-lost1", string(StackDestroyed), "setup step migrate failed", true)
	act(envs["settled"], versionID, ActReplacing, "stk-lost1")
	stack(envs["building"], "stk-slow1", string(StackBuilding), "", false)
	act(envs["building"], versionID, ActReplacing, "stk-slow1")
	act(envs["moved"], versionID+1, ActWaiting, "") // the act of a version it does not run

	for _, c := range []struct {
		env        string
		version    int64
		check      func(a *storage.DeprecationAct) bool
		wantSaying string
	}{
		{"settled", versionID, func(a *storage.DeprecationAct) bool {
			return a.State == ActWaiting && a.Attempts == 1 && a.NextAt != nil && a.NextAt.Equal(now.Add(10*time.Minute)) &&
				strings.Contains(a.Reason, "the replace with 1.1.0 failed: setup step migrate failed")
		}, "waiting for its second try, the stack's failure as the reason"},
		{"building", versionID, func(a *storage.DeprecationAct) bool {
			return a.State == ActReplacing && a.Attempts == 1 && a.NextAt != nil && a.NextAt.Equal(now.Add(2*time.Minute))
		}, "still replacing, looked at again later"},
		{"moved", versionID + 1, func(a *storage.DeprecationAct) bool { return a.State == ActMoot && a.FinishedAt != nil },
			"moot: the environment does not run that version"},
		{"legacy", versionID, func(a *storage.DeprecationAct) bool {
			return (a.State == ActReplacing || a.State == ActDone) && a.Attempts == 1 && a.Target == "1.1.0" && a.StackID != ""
		}, "recorded and tried once: its replace queued"},
	} {
		t.Run(c.env, func(t *testing.T) {
			e := envs[c.env]
			if err := s.actOnDeprecated(ctx, e.ID, c.version); err != nil {
				t.Fatal(err)
			}
			a, err := db.DeprecationAct(ctx, e.ID, c.version)
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(a) {
				t.Errorf("after a try: %+v; want %s", a, c.wantSaying)
			}
			// A second call at the same time changes nothing: the try is
			// not due, or was made.
			if err := s.actOnDeprecated(ctx, e.ID, c.version); err != nil {
				t.Fatal(err)
			}
			b, err := db.DeprecationAct(ctx, e.ID, c.version)
			if err != nil {
				t.Fatal(err)
			}
			if b.Attempts != a.Attempts {
				t.Errorf("a second call made another try: %d attempts, then %d", a.Attempts, b.Attempts)
			}
		})
	}
}
