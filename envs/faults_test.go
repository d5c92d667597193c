package envs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/storage"
)

// fault is what one provider call does.
type fault int

const (
	fine     fault = iota
	fail           // returns an error
	hang           // blocks until its context ends (the job timeout)
	stuck          // ignores its context: blocks until the test ends
	explode        // panics
	deleting       // returns at once saying the stack is still being deleted (Destroy only)
)

// errDeleting is how call tells Destroy to report the stack still going.
var errDeleting = errors.New("still deleting")

// script is what the successive calls of one provider method do: the n-th
// call (from 0) does faults[n], later calls do then.
type script struct {
	faults []fault
	then   fault
}

func (s script) at(n int) fault {
	if n < len(s.faults) {
		return s.faults[n]
	}
	return s.then
}

func always(f fault) script { return script{then: f} }

// plan schedules the faults of one environment's provider calls;
// onProvision, when set, runs at the start of each Provision (to report
// progress, or to wait).
type plan struct {
	provision, status, destroy script
	onProvision                func(ctx context.Context, req envs.ProvisionRequest)
}

// faultyProvider's stacks exist only in memory; each environment (by name)
// follows its plan, and every call is counted.
type faultyProvider struct {
	release chan struct{} // closed when the test ends: stuck calls return

	mu     sync.Mutex
	plans  map[string]plan
	names  map[string]string // handle -> environment name
	stacks map[string]bool
	calls  map[string]map[string]int // environment name -> method -> calls
}

func newFaultyProvider(plans map[string]plan) *faultyProvider {
	return &faultyProvider{release: make(chan struct{}), plans: plans,
		names: map[string]string{}, stacks: map[string]bool{}, calls: map[string]map[string]int{}}
}

func (p *faultyProvider) Name() string                        { return "faulty" }
func (p *faultyProvider) ValidateStack(json.RawMessage) error { return nil }
func (p *faultyProvider) Logs(context.Context, string, string, int) ([]envs.LogStream, error) {
	return nil, nil
}

func (p *faultyProvider) Stacks(context.Context) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for h := range p.stacks {
		out = append(out, h)
	}
	return out, nil
}

// call counts a call of method for an environment and does what its plan
// says for it.
func (p *faultyProvider) call(ctx context.Context, name, method string) error {
	p.mu.Lock()
	if p.calls[name] == nil {
		p.calls[name] = map[string]int{}
	}
	n := p.calls[name][method]
	p.calls[name][method]++
	pl := p.plans[name]
	p.mu.Unlock()
	s := map[string]script{"Provision": pl.provision, "Status": pl.status, "Destroy": pl.destroy}[method]
	switch s.at(n) {
	case fail:
		return fmt.Errorf("%s refused: quota exceeded", method)
	case hang:
		<-ctx.Done()
		return ctx.Err()
	case stuck:
		<-p.release
		return errors.New("released at the end of the test")
	case explode:
		panic(method + " exploded")
	case deleting:
		return errDeleting
	}
	return nil
}

func (p *faultyProvider) Provision(ctx context.Context, req envs.ProvisionRequest) (string, error) {
	p.mu.Lock()
	hook := p.plans[req.Name].onProvision
	p.mu.Unlock()
	if hook != nil {
		hook(ctx, req)
	}
	if err := p.call(ctx, req.Name, "Provision"); err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.names[req.EnvironmentID] = req.Name
	p.stacks[req.EnvironmentID] = true
	return req.EnvironmentID, nil
}

func (p *faultyProvider) name(handle string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.names[handle]
}

func (p *faultyProvider) Status(ctx context.Context, handle string) (envs.StackStatus, error) {
	if err := p.call(ctx, p.name(handle), "Status"); err != nil {
		return envs.StackStatus{}, err
	}
	return envs.StackStatus{State: envs.StackReady, Outputs: map[string]string{"url": "http://example.invalid/"}}, nil
}

func (p *faultyProvider) Destroy(ctx context.Context, handle string) (bool, error) {
	if err := p.call(ctx, p.name(handle), "Destroy"); errors.Is(err, errDeleting) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.stacks, handle)
	return true, nil
}

func (p *faultyProvider) callsOf(name string) map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.calls[name] {
		out[k] = v
	}
	return out
}

const faultyTemplate = `name: faulty
version: 1.0.0
kind: demo
description: stacks whose provider fails on a schedule
owner: tests
provider: faulty
ttl: {default: 1h, max: 2h}
stack: {}
`

// TestProviderFaults launches good environments among ones whose provider
// fails, hangs and panics on a schedule, on the real database and job queue
// with few workers: the good ones come up and go away, each faulty one ends
// failed or destroy_failed with a reason naming its fault after at most the
// configured attempts (or, for a destroy the provider reports in progress
// forever, the destroy timeout), and no job is left retrying.
func TestProviderFaults(t *testing.T) {
	const (
		provisionAttempts = 3
		destroyAttempts   = 3
		jobTimeout        = time.Second
		destroyTimeout    = 2 * time.Second
	)
	type want struct {
		launchFailure string // "" when it becomes ready
		destroyReason string // "" when it is destroyed; else it ends destroy_failed with this
		calls         map[string]int
		destroyPolled bool // Destroy is asked again until the timeout: at least twice, not a fixed number
	}
	cases := []struct {
		name string
		plan plan
		want want
	}{
		{"provision-fails-twice", plan{provision: script{faults: []fault{fail, fail}}},
			want{calls: map[string]int{"Provision": 3, "Status": 1, "Destroy": 1}}},
		{"status-panics-once", plan{status: script{faults: []fault{explode}}},
			want{calls: map[string]int{"Provision": 1, "Status": 2, "Destroy": 1}}},
		{"destroy-hangs-once", plan{destroy: script{faults: []fault{hang}}},
			want{calls: map[string]int{"Provision": 1, "Status": 1, "Destroy": 2}}},
		{"provision-fails", plan{provision: always(fail)},
			want{launchFailure: "Provision refused: quota exceeded", calls: map[string]int{"Provision": provisionAttempts}}},
		{"provision-panics", plan{provision: always(explode)},
			want{launchFailure: "Provision panicked: Provision exploded", calls: map[string]int{"Provision": provisionAttempts}}},
		{"provision-hangs", plan{provision: always(hang)},
			want{launchFailure: "Provision timed out after 1s", calls: map[string]int{"Provision": provisionAttempts}}},
		{"provision-stuck", plan{provision: always(stuck)},
			want{launchFailure: "Provision timed out after 1s", calls: map[string]int{"Provision": provisionAttempts}}},
		{"status-fails", plan{status: always(fail)},
			want{launchFailure: "Status refused: quota exceeded", calls: map[string]int{"Provision": 1, "Status": provisionAttempts, "Destroy": 1}}},
		{"status-panics", plan{status: always(explode)},
			want{launchFailure: "Status panicked: Status exploded", calls: map[string]int{"Provision": 1, "Status": provisionAttempts, "Destroy": 1}}},
		{"status-hangs", plan{status: always(hang)},
			want{launchFailure: "Status timed out after 1s", calls: map[string]int{"Provision": 1, "Status": provisionAttempts, "Destroy": 1}}},
		{"destroy-fails", plan{destroy: always(fail)},
			want{destroyReason: "Destroy refused: quota exceeded", calls: map[string]int{"Provision": 1, "Status": 1, "Destroy": destroyAttempts}}},
		{"destroy-panics", plan{destroy: always(explode)},
			want{destroyReason: "Destroy panicked: Destroy exploded", calls: map[string]int{"Provision": 1, "Status": 1, "Destroy": destroyAttempts}}},
		{"destroy-stuck", plan{destroy: always(stuck)},
			want{destroyReason: "Destroy timed out after 1s", calls: map[string]int{"Provision": 1, "Status": 1, "Destroy": destroyAttempts}}},
		{"destroy-deleting-forever", plan{destroy: always(deleting)},
			want{destroyReason: "still being deleted after the destroy timeout of 2s (gave up", calls: map[string]int{"Provision": 1, "Status": 1}, destroyPolled: true}},
	}
	for i := range 8 {
		cases = append(cases, struct {
			name string
			plan plan
			want want
		}{fmt.Sprintf("good-%d", i), plan{}, want{calls: map[string]int{"Provision": 1, "Status": 1, "Destroy": 1}}})
	}
	plans := map[string]plan{}
	for _, c := range cases {
		plans[c.name] = c.plan
	}
	p := newFaultyProvider(plans)
	ctx := context.Background()
	db, cipher := openStore(t)
	// Four workers for 22 environments: hung calls must not hold them.
	svc := startFaulty(t, db, cipher, p, envs.Config{Workers: 4, JobTimeout: jobTimeout,
		ProvisionAttempts: provisionAttempts, DestroyAttempts: destroyAttempts, DestroyTimeout: destroyTimeout})

	member := envs.Actor{Name: "tester", UserID: "usr-tester", Role: envs.RoleMember}
	ids := make([]string, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Go(func() {
			env, err := svc.Launch(ctx, member, envs.LaunchRequest{Template: "faulty", Name: c.name})
			if err != nil {
				t.Errorf("launch %s: %v", c.name, err)
				return
			}
			ids[i] = env.ID
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Launch outcomes: ready, or failed with its stack cleaned up (the
	// environment stays failed until it is destroyed or expires).
	deadline := time.Now().Add(90 * time.Second)
	for i, c := range cases {
		env := waitFor(t, svc, ids[i], deadline, func(e *envs.Environment) bool {
			return e.Status == envs.StatusReady || e.Status == envs.StatusFailed && e.StackCleanedAt != nil
		})
		if c.want.launchFailure == "" {
			if env.Status != envs.StatusReady {
				t.Errorf("%s: status %s (%s), want ready", c.name, env.Status, env.FailureReason)
			}
			continue
		}
		if env.Status != envs.StatusFailed {
			t.Errorf("%s: status %s, want failed", c.name, env.Status)
		}
		if !strings.Contains(env.FailureReason, c.want.launchFailure) {
			t.Errorf("%s: failure reason %q, want it to name %q", c.name, env.FailureReason, c.want.launchFailure)
		}
		if !hasEvent(t, svc, env.ID, "Launch failed: ") {
			t.Errorf("%s: no \"Launch failed\" event in its timeline", c.name)
		}
	}

	// Destroy what came up: good stacks go, faulty destroys give up.
	for i, c := range cases {
		if c.want.launchFailure == "" {
			if _, err := svc.Destroy(ctx, member, ids[i]); err != nil {
				t.Fatalf("destroy %s: %v", c.name, err)
			}
		}
	}
	for i, c := range cases {
		if c.want.launchFailure != "" {
			continue
		}
		env := waitFor(t, svc, ids[i], deadline, func(e *envs.Environment) bool {
			return e.Status.Terminal() || e.Status == envs.StatusDestroyFailed && strings.Contains(e.StatusReason, "gave up")
		})
		switch {
		case c.want.destroyReason == "" && env.Status != envs.StatusDestroyed:
			t.Errorf("%s: status %s (%s), want destroyed", c.name, env.Status, env.StatusReason)
		case c.want.destroyReason != "" && !strings.Contains(env.StatusReason, c.want.destroyReason):
			t.Errorf("%s: status %s, reason %q, want destroy_failed naming %q", c.name, env.Status, env.StatusReason, c.want.destroyReason)
		case c.want.destroyReason != "" && !env.DestroyGivenUp():
			t.Errorf("%s: reason %q, want it to say the destroy was given up", c.name, env.StatusReason)
		}
		if c.want.destroyPolled {
			// Given up at the timeout, not before, and not long after. (The
			// events are stamped a database write after the times the
			// timeout is counted between: allow for that.)
			requested, ok1 := eventAt(t, svc, env.ID, "Destroy requested")
			failed, ok2 := eventAt(t, svc, env.ID, "Destroy failed: ")
			if took := failed.Sub(requested); !ok1 || !ok2 {
				t.Errorf("%s: no \"Destroy requested\" and \"Destroy failed: \" events in its timeline", c.name)
			} else if took < destroyTimeout-100*time.Millisecond || took > destroyTimeout+30*time.Second {
				t.Errorf("%s: gave up %s after the destroy was requested, want just past the %s timeout", c.name, took, destroyTimeout)
			}
		}
	}

	// No job is left to run again: each ended by the orchestrator's own
	// decision (completed or cancelled), none discarded by River.
	waitJobsSettled(t, db, deadline)
	for _, c := range cases {
		got := p.callsOf(c.name)
		delete(got, "Stacks")
		if c.want.destroyPolled {
			if got["Destroy"] < 2 {
				t.Errorf("%s: Destroy called %d times, want it polled until the timeout", c.name, got["Destroy"])
			}
			delete(got, "Destroy")
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want.calls) {
			t.Errorf("%s: provider calls %v, want %v", c.name, got, c.want.calls)
		}
	}

	// A destroy that gave up (after its attempts, or at the timeout) waits
	// for an admin; once the provider is fixed, retrying it destroys the
	// stack.
	for i, c := range cases {
		if c.name != "destroy-fails" && c.name != "destroy-deleting-forever" {
			continue
		}
		p.mu.Lock()
		p.plans[c.name] = plan{}
		p.mu.Unlock()
		if r, err := db.Environment(ctx, ids[i]); err != nil || r.DestroyGivenUpAt == nil {
			t.Fatalf("%s: destroy_given_up_at not set before the retry (%v)", c.name, err)
		}
		if _, err := svc.RetryDestroy(ctx, envs.Actor{Name: "admin", Role: envs.RoleAdmin}, ids[i], nil); err != nil {
			t.Fatalf("retry destroy of %s: %v", c.name, err)
		}
		// The retry is a new destroy, retried again if it fails.
		if r, err := db.Environment(ctx, ids[i]); err != nil {
			t.Fatal(err)
		} else if r.DestroyGivenUpAt != nil {
			t.Errorf("%s: destroy_given_up_at %v after the admin's retry, want it cleared", c.name, r.DestroyGivenUpAt)
		}
		env := waitFor(t, svc, ids[i], time.Now().Add(30*time.Second), func(e *envs.Environment) bool { return e.Status.Terminal() })
		if env.Status != envs.StatusDestroyed {
			t.Errorf("%s after the admin's retry: %s, want destroyed", c.name, env.Status)
		}
	}
}

// waitFor polls an environment until done says so, failing the test at the
// deadline.
func waitFor(t *testing.T, svc *envs.Service, id string, deadline time.Time, done func(*envs.Environment) bool) *envs.Environment {
	t.Helper()
	for {
		env, err := svc.Environment(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if done(env) {
			return env
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s (%q, %q) at the deadline", env.Name, env.Status, env.StatusReason, env.FailureReason)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eventAt is when the first event of an environment's timeline starting
// with prefix happened; ok is false when there is none.
func eventAt(t *testing.T, svc *envs.Service, id, prefix string) (at time.Time, ok bool) {
	t.Helper()
	events, err := svc.Events(context.Background(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if strings.HasPrefix(e.Message, prefix) {
			return e.At, true
		}
	}
	return time.Time{}, false
}

func hasEvent(t *testing.T, svc *envs.Service, id, prefix string) bool {
	t.Helper()
	_, ok := eventAt(t, svc, id, prefix)
	return ok
}

// waitJobsSettled waits until no provision, destroy or clean-up job may run again,
// then checks that River discarded none (which would mean it, not the
// orchestrator, stopped the retries).
func waitJobsSettled(t *testing.T, db *storage.DB, deadline time.Time) {
	t.Helper()
	count := func(states string) int {
		var n int
		q := `SELECT count(*) FROM river_job WHERE kind IN ('provision', 'destroy', 'cleanup') AND state ` + states
		if err := db.SQL().QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for n := count("NOT IN ('completed', 'cancelled', 'discarded')"); n > 0; n = count("NOT IN ('completed', 'cancelled', 'discarded')") {
		if time.Now().After(deadline) {
			t.Fatalf("%d provision, destroy or clean-up jobs may still run at the deadline", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := count("= 'discarded'"); n > 0 {
		t.Errorf("%d jobs discarded by River after exhausting their attempts", n)
	}
}
