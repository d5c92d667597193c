package local_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/local"
)

// recorder is a Progress that notes what it hears and when.
type recorder struct {
	mu     sync.Mutex
	lines  []string // "created <handle>" or the event's message
	heard  []time.Time
	events []envs.ProviderEvent
	notify chan string
}

func newRecorder() *recorder { return &recorder{notify: make(chan string, 100)} }

func (r *recorder) StackCreated(handle string) { r.add("created "+handle, envs.ProviderEvent{}) }

func (r *recorder) Event(ev envs.ProviderEvent) { r.add(ev.Message, ev) }

func (r *recorder) add(line string, ev envs.ProviderEvent) {
	r.mu.Lock()
	r.lines = append(r.lines, line)
	r.heard = append(r.heard, time.Now())
	r.events = append(r.events, ev)
	r.mu.Unlock()
	r.notify <- line
}

// wait returns once a line containing substr was heard.
func (r *recorder) wait(t *testing.T, substr string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l := <-r.notify:
			if strings.Contains(l, substr) {
				return
			}
		case <-timeout:
			t.Fatalf("no %q reported within 20s", substr)
		}
	}
}

func (r *recorder) snapshot() ([]string, []time.Time, []envs.ProviderEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...), append([]time.Time(nil), r.heard...), append([]envs.ProviderEvent(nil), r.events...)
}

func provisionWith(t *testing.T, ctx context.Context, p *local.Provider, id, stack string, prog envs.Progress) (string, error) {
	t.Helper()
	t.Cleanup(func() {
		if _, err := p.Destroy(context.Background(), id); err != nil {
			t.Errorf("cleanup: Destroy(%s): %v", id, err)
		}
	})
	return p.Provision(ctx, envs.ProvisionRequest{EnvironmentID: id, Name: "test " + id, Stack: []byte(stack), Progress: prog})
}

// Provision reports each step as it happens: the stack first, then each
// setup command when it starts and when it ends, then each service, with
// the times they happened; none is left for Status to report.
func TestProvisionReportsEachStep(t *testing.T) {
	p := newProvider(t, testConfig(t))
	rec := newRecorder()
	start := time.Now()
	h, err := provisionWith(t, context.Background(), p, "env-steps", `{
		"setup": [{"name": "seed", "command": ["sleep", "1"]}],
		"services": [`+serveService("web", "serve")+`]
	}`, rec)
	if err != nil {
		t.Fatal(err)
	}
	lines, heard, evs := rec.snapshot()
	want := []string{"created env-steps", "setup: seed started", "setup: seed finished", "service web started on 127.0.0.1:"}
	if len(lines) != len(want) {
		t.Fatalf("reported %q, want %q", lines, want)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("report %d: %q, want %q", i, lines[i], w)
		}
	}
	if gap := heard[2].Sub(heard[1]); gap < 900*time.Millisecond {
		t.Errorf("setup's start and end heard %s apart, want the second it ran", gap)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].At.Before(start) || evs[i].At.After(heard[i]) || i > 1 && evs[i].At.Before(evs[i-1].At) {
			t.Errorf("event %q at %s: want the time it happened, in order", evs[i].Message, evs[i].At)
		}
	}
	st, events := waitState(t, p, h, envs.StackReady)
	if contains(events, "setup") || contains(events, "started") || st.State != envs.StackReady {
		t.Errorf("Status reported %q again", events)
	}
}

// A Provision whose context ends (a destroy was requested) kills the
// running setup command at once, starts no service and lets Destroy in.
func TestCancelledProvisionStopsAtOnce(t *testing.T) {
	p := newProvider(t, testConfig(t))
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := provisionWith(t, ctx, p, "env-cut", `{
			"setup": [{"name": "seed", "command": ["sleep", "20"], "timeout": "60s"}],
			"services": [`+serveService("web", "serve")+`]
		}`, rec)
		errc <- err
	}()
	rec.wait(t, "setup: seed started")
	waitProcesses(t, "env-cut")
	cancelled := time.Now()
	cancel()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "seed was cancelled") {
			t.Errorf("Provision: %v, want the setup command cancelled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Provision still runs 5s after its context ended")
	}
	if took := time.Since(cancelled); took > 3*time.Second {
		t.Errorf("Provision returned %s after its context ended", took)
	}
	if lines, _, _ := rec.snapshot(); contains(lines, "service") || contains(lines, "finished") {
		t.Errorf("reported %q after the cancel", lines)
	}
	waitNoProcesses(t, "env-cut")
	start := time.Now()
	if done, err := p.Destroy(context.Background(), "env-cut"); err != nil || !done {
		t.Fatalf("Destroy: %v %v", done, err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Destroy took %s after the cancelled Provision", took)
	}
}

func waitProcesses(t *testing.T, envID string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(local.Processes(envID)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no process of %s runs", envID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
