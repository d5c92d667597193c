package envs

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// instantProvider builds stacks at once; the rollout tests need ready
// environments, not real stacks.
type instantProvider struct{}

func (instantProvider) Name() string                        { return "instant" }
func (instantProvider) ValidateStack(json.RawMessage) error { return nil }
func (instantProvider) Provision(_ context.Context, req ProvisionRequest) (string, error) {
	return "h-" + req.EnvironmentID, nil
}
func (instantProvider) Status(context.Context, string) (StackStatus, error) {
	return StackStatus{State: StackReady}, nil
}
func (instantProvider) Destroy(context.Context, string) (bool, error) { return true, nil }
func (instantProvider) Logs(context.Context, string, string, int) ([]LogStream, error) {
	return nil, nil
}
func (instantProvider) Stacks(context.Context) ([]string, error) { return nil, nil }

const rolloutTemplate = `name: web
version: 1.0.0
kind: demo
description: rolled out
owner: tests
provider: instant
ttl: {default: 1h, max: 2h}
stack: {}
`

// versionStep is the test's rollout step until the real replace exists
// on this branch: it moves the environment to the rollout's version in
// the database (a step that really changes it), fails environments whose
// name starts with "bad", and records how many items ran at once.
type versionStep struct {
	s       *Service
	mu      sync.Mutex
	running map[string]bool
	most    int
	order   []string
	// hold keeps a started item running until released (crash tests).
	hold bool
}

func (v *versionStep) step(ctx context.Context, ro *storage.Rollout, it *storage.RolloutItem, claim itemClaim) (stepResult, error) {
	env, err := v.s.store.Environment(ctx, it.EnvironmentID)
	if err != nil {
		return stepResult{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if claim != nil {
		var started bool
		if err := v.s.store.InTx(ctx, func(tx *storage.Tx) (err error) { started, err = claim(tx); return err }); err != nil || !started {
			return stepResult{}, err
		}
		v.running[it.EnvironmentID] = true
		v.most = max(v.most, len(v.running))
		v.order = append(v.order, env.Name)
		return stepResult{State: ItemRunning}, nil // finished on the next look, like a replace
	}
	if v.hold {
		return stepResult{State: ItemRunning}, nil
	}
	delete(v.running, it.EnvironmentID)
	if strings.HasPrefix(env.Name, "bad") {
		return stepResult{State: ItemFailed, Reason: "the new stack did not become healthy"}, nil
	}
	ver, err := v.s.store.Version(ctx, ro.TemplateName, ro.Version)
	if err != nil {
		return stepResult{}, err
	}
	if err := v.s.store.UpdateEnvironment(ctx, env.ID, storage.EnvironmentUpdate{Version: storage.Set(ver.Version), VersionID: storage.Set(ver.ID)}); err != nil {
		return stepResult{}, err
	}
	return stepResult{State: ItemDone}, nil
}

func rolloutService(t *testing.T, db *storage.DB) (*Service, *versionStep) {
	t.Helper()
	ctx := context.Background()
	c, err := NewCipher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: db, Cipher: c, Providers: []Provider{instantProvider{}}, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	v := &versionStep{s: s, running: map[string]bool{}}
	s.rollouts.step = v.step
	s.rollouts.poll = 10 * time.Millisecond
	for _, ver := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		if _, _, err := s.Publish(ctx, System, []byte(strings.Replace(rolloutTemplate, "1.0.0", ver, 1))); err != nil {
			t.Fatal(err)
		}
	}
	runService(t, s)
	return s, v
}

var rolloutAuthor = Actor{Name: "ann", UserID: "u-ann", Role: RoleAuthor, Team: "tests", Teams: []string{"tests"}}

func launchReady(t *testing.T, s *Service, name, version string, labels map[string]string) *Environment {
	t.Helper()
	ctx := context.Background()
	e, err := s.Launch(ctx, rolloutAuthor, LaunchRequest{Template: "web", Version: version, Name: name, Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := s.Environment(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == StatusReady {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s", name, got.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitRollout(t *testing.T, s *Service, id string, done func(*Rollout) bool) *Rollout {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ro, err := s.GetRollout(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if done(ro) {
			return ro
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout %s: still %s at the deadline (%+v)", id, ro.Status, ro.Items)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func itemStates(ro *Rollout) map[string]string {
	out := map[string]string{}
	for _, it := range ro.Items {
		out[it.EnvironmentID] = it.State
	}
	return out
}

// A rollout replaces the selected environments in waves, at most
// concurrency at a time, and is done when all are; the filter selects.
func TestRolloutRunsInWaves(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	s, step := rolloutService(t, db)
	var picked []*Environment
	for _, n := range []string{"a1", "a2", "a3", "a4", "a5"} {
		picked = append(picked, launchReady(t, s, n, "1.0.0", map[string]string{"ring": "canary"}))
	}
	other := launchReady(t, s, "other", "1.0.0", map[string]string{"ring": "main"})
	onTarget := launchReady(t, s, "on-target", "1.2.0", map[string]string{"ring": "canary"})

	if _, err := s.StartRollout(ctx, Actor{Name: "carl", Role: RoleAuthor, Team: "data", Teams: []string{"data"}}, RolloutRequest{Template: "web", Version: "1.2.0"}); ErrorCode(err) != EForbidden {
		t.Errorf("a rollout by another team's author: %v, want forbidden", err)
	}
	for _, bad := range []RolloutRequest{
		{Template: "web", Version: "1.2.0", WaveSize: 2, Concurrency: 3},
		{Template: "web", Version: "1.2.0", WaveSize: 101},
		{Template: "web", Version: "1.2.0", Filter: RolloutFilter{Labels: []string{"nokey"}}},
		{Template: "web", Version: "1.2.0", Filter: RolloutFilter{Statuses: []Status{"gone"}}},
	} {
		if _, err := s.StartRollout(ctx, rolloutAuthor, bad); ErrorCode(err) != EInvalid {
			t.Errorf("StartRollout(%+v) = %v, want invalid", bad, err)
		}
	}

	ro, err := s.StartRollout(ctx, rolloutAuthor, RolloutRequest{Template: "web", Version: "1.2.0",
		Filter: RolloutFilter{Labels: []string{"ring=canary"}}, WaveSize: 2, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(ro.Items) != 5 || ro.Items[0].Wave != 0 || ro.Items[4].Wave != 2 {
		t.Fatalf("items: %+v, want the 5 canaries on 1.0.0 in waves 0, 0, 1, 1, 2", ro.Items)
	}
	ro = waitRollout(t, s, ro.ID, func(r *Rollout) bool { return r.Status != RolloutRunning })
	if ro.Status != RolloutDone {
		t.Fatalf("rollout ended %s (%s), want done", ro.Status, ro.Reason)
	}
	for _, e := range picked {
		got, _ := s.Environment(ctx, e.ID)
		if got.Version != "1.2.0" || itemStates(ro)[e.ID] != ItemDone {
			t.Errorf("%s: on %s, item %s; want 1.2.0, done", e.Name, got.Version, itemStates(ro)[e.ID])
		}
	}
	for _, e := range []*Environment{other, onTarget} {
		if _, ok := itemStates(ro)[e.ID]; ok {
			t.Errorf("%s was selected", e.Name)
		}
	}
	if step.most > 2 {
		t.Errorf("%d items ran at once, concurrency 2", step.most)
	}
	// Waves in order: a wave starts when the previous one finished.
	waveOf := map[string]int{}
	for _, it := range ro.Items {
		env, _ := s.Environment(ctx, it.EnvironmentID)
		waveOf[env.Name] = it.Wave
	}
	for i := 1; i < len(step.order); i++ {
		if waveOf[step.order[i]] < waveOf[step.order[i-1]] {
			t.Errorf("started in the order %v, against the waves %v", step.order, waveOf)
		}
	}
}

// The first failure pauses the rollout with its reason; resume goes on
// with the rest; an environment destroyed meanwhile is skipped; cancel
// skips what did not start.
func TestRolloutPausesOnFailureAndResumes(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	s, _ := rolloutService(t, db)
	launchReady(t, s, "good1", "1.0.0", nil)
	bad := launchReady(t, s, "bad1", "1.0.0", nil)
	gone := launchReady(t, s, "gone1", "1.1.0", nil)
	last := launchReady(t, s, "good2", "1.0.0", nil)
	ro, err := s.StartRollout(ctx, rolloutAuthor, RolloutRequest{Template: "web", Version: "1.2.0", WaveSize: 1, Concurrency: 1,
		Filter: RolloutFilter{Statuses: []Status{StatusReady}}})
	if err != nil {
		t.Fatal(err)
	}
	ro = waitRollout(t, s, ro.ID, func(r *Rollout) bool { return r.Status != RolloutRunning })
	if ro.Status != RolloutPaused || !strings.Contains(ro.Reason, bad.ID+" failed: the new stack did not become healthy") {
		t.Fatalf("after bad1: %s %q, want paused naming bad1's failure", ro.Status, ro.Reason)
	}
	if st := itemStates(ro); st[last.ID] != ItemPending || st[gone.ID] != ItemPending {
		t.Errorf("good2 is %s and gone1 %s while paused, want both pending", st[last.ID], st[gone.ID])
	}
	// gone1 is destroyed while the rollout waits: it is skipped on resume
	// (it was selected while ready; the destroy may finish at once).
	if _, err := s.Destroy(ctx, rolloutAuthor, gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResumeRollout(ctx, rolloutAuthor, "web", ro.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResumeRollout(ctx, rolloutAuthor, "web", ro.ID); ErrorCode(err) != EConflict && err != nil {
		t.Errorf("resume twice: %v, want conflict (or nil if it already paused again)", err)
	}
	ro = waitRollout(t, s, ro.ID, func(r *Rollout) bool { return r.Status == RolloutDone })
	st := itemStates(ro)
	if st[bad.ID] != ItemFailed || st[gone.ID] != ItemSkipped || st[last.ID] != ItemDone {
		t.Errorf("items after resume: %v", st)
	}
	if _, err := s.CancelRollout(ctx, rolloutAuthor, "web", ro.ID); ErrorCode(err) != EConflict {
		t.Errorf("cancel a done rollout: %v, want conflict", err)
	}

	// Cancel.
	launchReady(t, s, "bad2", "1.0.0", nil)
	waiting := launchReady(t, s, "good3", "1.0.0", nil)
	ro2, err := s.StartRollout(ctx, rolloutAuthor, RolloutRequest{Template: "web", Version: "1.2.0", WaveSize: 1, Concurrency: 1, Filter: RolloutFilter{Statuses: []Status{StatusReady}}})
	if err != nil {
		t.Fatal(err)
	}
	waitRollout(t, s, ro2.ID, func(r *Rollout) bool { return r.Status == RolloutPaused })
	ro2, err = s.CancelRollout(ctx, rolloutAuthor, "web", ro2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ro2.Status != RolloutCancelled || itemStates(ro2)[waiting.ID] != ItemSkipped {
		t.Errorf("after cancel: %s, items %v", ro2.Status, itemStates(ro2))
	}
	list, err := s.Rollouts(ctx, "web")
	if err != nil || len(list) != 2 || list[0].ID != ro2.ID {
		t.Errorf("Rollouts: %v, %v", list, err)
	}
	entries, _ := db.AuditEntries(ctx, 100)
	seen := map[string]bool{}
	for _, a := range entries {
		seen[a.Action] = true
	}
	for _, a := range []string{"rollout.start", "rollout.pause", "rollout.resume", "rollout.cancel"} {
		if !seen[a] {
			t.Errorf("no %s audit entry", a)
		}
	}
}

// A service stopped mid-rollout (its job in flight) leaves the rows as
// they are; another one on the same database takes the rollout up where
// it was and finishes it, each environment moved once.
func TestRolloutResumesAfterARestart(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	s1, step1 := rolloutService(t, db)
	var ids []string
	for _, n := range []string{"r1", "r2", "r3", "r4"} {
		ids = append(ids, launchReady(t, s1, n, "1.0.0", nil).ID)
	}
	step1.mu.Lock()
	step1.hold = true
	step1.mu.Unlock()
	ro, err := s1.StartRollout(ctx, rolloutAuthor, RolloutRequest{Template: "web", Version: "1.1.0", WaveSize: 2, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	waitRollout(t, s1, ro.ID, func(r *Rollout) bool {
		st := itemStates(r)
		return st[ids[0]] == ItemRunning && st[ids[1]] == ItemRunning
	})
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_ = s1.Stop(sctx)
	cancel()
	if _, err := db.RequeueRunningJobs(ctx); err != nil {
		t.Fatal(err)
	}

	s2, step2 := rolloutService(t, db)
	ro = waitRollout(t, s2, ro.ID, func(r *Rollout) bool { return r.Status != RolloutRunning })
	if ro.Status != RolloutDone {
		t.Fatalf("after the restart: %s %q", ro.Status, ro.Reason)
	}
	for _, id := range ids {
		if e, _ := s2.Environment(ctx, id); e.Version != "1.1.0" {
			t.Errorf("%s on %s after the restart, want 1.1.0", e.Name, e.Version)
		}
	}
	if len(step2.order) != 2 {
		t.Errorf("the second service started %v, want only the second wave (the first was started before the restart)", step2.order)
	}
}

// failingReplaceProvider builds first stacks at once and fails the
// candidates of environments named bad*: a rollout with the real replace
// step pauses on them.
type failingReplaceProvider struct{ instantProvider }

func (failingReplaceProvider) Name() string { return "instant" }
func (failingReplaceProvider) Provision(_ context.Context, req ProvisionRequest) (string, error) {
	return "h-" + cmpOr(req.StackID, req.EnvironmentID) + "-" + req.Name, nil
}
func (failingReplaceProvider) Status(_ context.Context, h string) (StackStatus, error) {
	if strings.HasPrefix(h, "h-stk-") && strings.Contains(h, "-bad") {
		return StackStatus{State: StackFailed, Reason: "the new stack did not become healthy"}, nil
	}
	return StackStatus{State: StackReady}, nil
}

// A rollout item's start and its replace request are one transaction: two
// replicas looking at a rollout at once, and a resume right after the
// first failure paused it, never see an item running without its replace
// (which a look would take for a crash and request again, failing the
// item on the replace already under way): every item but the bad one is
// replaced exactly once.
func TestRolloutItemStartsWithItsReplace(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	c, err := NewCipher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: db, Cipher: c, Providers: []Provider{failingReplaceProvider{}}, PollInterval: 5 * time.Millisecond}
	s1, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s1.rollouts.poll = 5 * time.Millisecond
	for _, ver := range []string{"1.0.0", "1.1.0"} {
		if _, _, err := s1.Publish(ctx, System, []byte(strings.Replace(rolloutTemplate, "1.0.0", ver, 1))); err != nil {
			t.Fatal(err)
		}
	}
	runService(t, s1)
	s2, err := New(cfg) // the second replica: its looks run from the test
	if err != nil {
		t.Fatal(err)
	}
	var good []string
	for _, n := range []string{"g1", "g2", "bad1", "g3", "g4", "g5", "g6", "g7"} {
		e := launchReady(t, s1, n, "1.0.0", nil)
		if n != "bad1" {
			good = append(good, e.ID)
		}
	}
	ro, err := s1.StartRollout(ctx, rolloutAuthor, RolloutRequest{Template: "web", Version: "1.1.0", WaveSize: 8, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, r := range []*rolloutRunner{s1.rollouts, s2.rollouts, s2.rollouts} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := r.tick(ctx, ro.ID); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	resumed := false
	got := waitRollout(t, s2, ro.ID, func(r *Rollout) bool {
		if r.Status == RolloutPaused && !resumed {
			// At once, while the paused look may still be running.
			if _, err := s2.ResumeRollout(ctx, rolloutAuthor, "web", ro.ID); err != nil {
				t.Errorf("resume: %v", err)
			}
			resumed = true
			return false
		}
		return r.Status == RolloutDone || r.Status == RolloutPaused && resumed
	})
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a look failed: %v", err)
	}
	if got.Status != RolloutDone {
		t.Fatalf("rollout ended %s (%q), items %v; want done after one resume", got.Status, got.Reason, itemStates(got))
	}
	st := itemStates(got)
	for _, id := range good {
		stacks, err := db.StacksOf(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		replaced := 0
		for _, sk := range stacks {
			if sk.Version == "1.1.0" {
				replaced++
			}
		}
		e, _ := s1.Environment(ctx, id)
		if st[id] != ItemDone || e.Version != "1.1.0" || replaced != 1 {
			t.Errorf("%s: item %s, on %s, %d stacks of 1.1.0; want done, 1.1.0, one", e.Name, st[id], e.Version, replaced)
		}
	}
}
