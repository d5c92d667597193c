package envs

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// sickProvider builds stacks at once and judges every stack broken,
// recording the handles of each health question.
type sickProvider struct {
	instantProvider
	mu    sync.Mutex
	asked [][]string
}

func (p *sickProvider) StackHealth(_ context.Context, handles []string) (map[string]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, slices.Clone(handles))
	out := make(map[string]string, len(handles))
	for _, h := range handles {
		out[h] = "service exited"
	}
	return out, nil
}

// A health sweep judges every ready environment, however many there are,
// asking the provider a page at a time.
func TestHealthSweepPagesThroughEveryReadyEnvironment(t *testing.T) {
	defer func(n int) { healthPage = n }(healthPage)
	healthPage = 2
	ctx := context.Background()
	p := &sickProvider{}
	s := startHealthService(t, p)
	var ids []string
	for _, name := range []string{"web1", "web2", "web3", "web4", "web5"} {
		ids = append(ids, launchReady(t, s, name, "1.0.0", nil).ID)
	}
	if err := s.checkReady(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		e, err := s.Environment(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if e.StatusReason != "Stack is not healthy: service exited" {
			t.Errorf("%s: status reason %q, want it flagged by the sweep", e.Name, e.StatusReason)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, batch := range p.asked {
		if len(batch) > healthPage {
			t.Errorf("asked about %d stacks at once, want at most a page of %d", len(batch), healthPage)
		}
	}
}

// panickyHealth panics when asked about health.
type panickyHealth struct{ instantProvider }

func (panickyHealth) StackHealth(context.Context, []string) (map[string]string, error) {
	panic("health check bug")
}

// A health check that panics is one failed provider call, as in a job: the
// sweep goes on and judges nothing wrongly.
func TestHealthSweepSurvivesAPanickingProvider(t *testing.T) {
	ctx := context.Background()
	s := startHealthService(t, panickyHealth{})
	e := launchReady(t, s, "web1", "1.0.0", nil)
	if err := s.checkReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Environment(ctx, e.ID); err != nil || got.StatusReason != "" || got.Status != StatusReady {
		t.Errorf("after a panicking health check: %+v, %v; want still ready and unflagged", got, err)
	}
}

// startHealthService runs a service of p with the rollout template
// published.
func startHealthService(t *testing.T, p Provider) *Service {
	t.Helper()
	ctx := context.Background()
	c, err := NewCipher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: openTestDB(t), Cipher: c, Providers: []Provider{p}, PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Publish(ctx, System, []byte(rolloutTemplate)); err != nil {
		t.Fatal(err)
	}
	runService(t, s)
	return s
}
