package envs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/local"
	"github.com/mayflyhq/mayfly/envs/notify"
	"github.com/mayflyhq/mayfly/envs/notify/notifytest"
	"github.com/mayflyhq/mayfly/internal/testclock"
)

// driftMetrics counts drift check outcomes as the HTTP layer's metrics do.
type driftMetrics struct {
	mu     sync.Mutex
	checks map[string]int // provider/result -> checks
}

func (m *driftMetrics) ProvisionDone(string, time.Duration, bool) {}
func (m *driftMetrics) DestroyDone(string, time.Duration)         {}
func (m *driftMetrics) ReaperLag(time.Duration)                   {}
func (m *driftMetrics) DriftChecked(provider, result string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checks[provider+"/"+result]++
}

func (m *driftMetrics) count(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.checks[key]
}

// driftTemplate is a local stack whose setup writes the file it declares
// for drift, with a process that runs until destroyed.
func driftTemplate(name, drift string) string {
	return `name: ` + name + `
version: 1.0.0
kind: demo
owner: tests
provider: local
ttl: {default: 96h, max: 96h}
` + drift + `
stack:
  setup:
    - command: ["sh", "-c", "mkdir -p config && echo 'mode: demo' > config/app.yaml"]
  services:
    - name: worker
      command: ["sleep", "86400"]
  drift:
    files: ["config/app.yaml"]
`
}

// TestDriftSchedule runs real local stacks on the real database and job
// queue with the service's clock injected: a stack is checked one
// interval after it is ready and every interval after that (24 h by
// default, never with interval off), a check finds a declared file changed
// by hand, and one on demand finds it put back; the timeline and the
// listing say so, and every check is counted.
func TestDriftSchedule(t *testing.T) {
	ctx := context.Background()
	db, cipher := openStore(t)
	dir := t.TempDir()
	lp, err := local.New(local.Config{Root: filepath.Join(dir, "stacks"), LogsDir: filepath.Join(dir, "logs"),
		SnapshotsDir: filepath.Join(dir, "snapshots"), StopGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		handles, _ := lp.Stacks(context.Background())
		for _, h := range handles {
			if _, err := lp.Destroy(context.Background(), h); err != nil {
				t.Errorf("destroy %s: %v", h, err)
			}
		}
	})
	clk := testclock.New(time.Now().UTC().Truncate(time.Second))
	metrics := &driftMetrics{checks: map[string]int{}}
	// The scheduler's periodic run only at start: the test runs it itself
	// after each move of the clock.
	svc, err := envs.New(envs.Config{Store: db, Providers: []envs.Provider{lp}, Cipher: cipher, Clock: clk.Now, Metrics: metrics,
		PollInterval: 20 * time.Millisecond, RetryDelay: 10 * time.Millisecond, DriftSweepInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{driftTemplate("daily", ""), driftTemplate("unscheduled", "drift: {interval: \"off\"}")} {
		if _, _, err := svc.Publish(ctx, envs.System, []byte(src)); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			svc.Stop(context.Background())
		}
	})

	member := envs.Actor{Name: "ada", UserID: "usr-ada", Role: envs.RoleMember}
	// The owner hears of drift on her webhook (and of nothing else: she
	// chose drift only).
	secret := notify.NewSecret()
	rcv := notifytest.StartReceiver(t, secret)
	if _, _, err := svc.AddNotifyChannel(ctx, member, envs.ChannelRequest{Kind: envs.ChannelWebhook, URL: rcv.URL, Secret: secret,
		Events: []string{string(envs.NoticeDrift)}}); err != nil {
		t.Fatal(err)
	}
	launch := func(template string) *envs.Environment {
		t.Helper()
		e, err := svc.Launch(ctx, member, envs.LaunchRequest{Template: template})
		if err != nil {
			t.Fatal(err)
		}
		return waitFor(t, svc, e.ID, time.Now().Add(30*time.Second), func(e *envs.Environment) bool { return e.Status == envs.StatusReady })
	}
	daily, unscheduled := launch("daily"), launch("unscheduled")
	readyAt := *daily.ReadyAt
	schedule := func(want int) {
		t.Helper()
		n, err := svc.ScheduleDriftChecks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("the scheduler queued %d checks at %s, want %d", n, clk.Now().Format(time.RFC3339), want)
		}
	}
	drift := func(e *envs.Environment) *envs.Drift {
		t.Helper()
		got, err := svc.Environment(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Drift
	}
	// checked waits for the environment's check that finishes at the
	// clock's time.
	checked := func(e *envs.Environment) *envs.Drift {
		t.Helper()
		got := waitFor(t, svc, e.ID, time.Now().Add(20*time.Second), func(e *envs.Environment) bool {
			return e.Drift != nil && !e.Drift.Checking && e.Drift.CheckedAt != nil && e.Drift.CheckedAt.Equal(clk.Now())
		})
		return got.Drift
	}

	schedule(0)
	if d := drift(daily); d.State != envs.DriftNever || d.NextCheck == nil || !d.NextCheck.Equal(readyAt.Add(24*time.Hour)) {
		t.Fatalf("after ready: %+v, want never checked, next at ready + 24h", d)
	}
	if d := drift(unscheduled); d.NextCheck != nil || d.Interval != 0 {
		t.Errorf("interval off: next check %v, interval %s; want none", d.NextCheck, d.Interval)
	}
	clk.Add(24*time.Hour - time.Second)
	schedule(0)

	clk.Add(time.Second)
	schedule(1)
	d := checked(daily)
	if d.State != envs.DriftInSync || len(d.Items) != 0 || !d.NextCheck.Equal(clk.Now().Add(24*time.Hour)) {
		t.Fatalf("first check: %+v, want in sync and the next one a day later", d)
	}
	schedule(0)

	// Someone edits the declared file; the next day's check finds it.
	work := filepath.Join(dir, "stacks", daily.ID)
	if err := os.WriteFile(filepath.Join(work, "config/app.yaml"), []byte("mode: production\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk.Add(24 * time.Hour)
	schedule(1)
	d = checked(daily)
	if d.State != envs.DriftDrifted || len(d.Items) != 1 || d.Items[0].Resource != "config/app.yaml" || d.Items[0].Status != envs.DriftModified ||
		d.DriftedSince == nil || !d.DriftedSince.Equal(clk.Now()) {
		t.Fatalf("after the edit: %+v, want the file drifted", d)
	}
	if !hasEvent(t, svc, daily.ID, "Drift detected: 1 difference from what 1.0.0 declares: config/app.yaml (file) MODIFIED") {
		t.Errorf("no drift line in the timeline")
	}
	if n := rcv.Wait(t, 1, 10*time.Second)[0]; n.Payload["event"] != string(envs.NoticeDrift) || !strings.Contains(n.Payload["text"].(string), "config/app.yaml") {
		t.Errorf("drift notice %s", n.Body)
	}
	yes, no := true, false
	for _, tt := range []struct {
		drifted *bool
		want    string
	}{{&yes, daily.Name}, {&no, unscheduled.Name}} {
		list, err := svc.Environments(ctx, envs.Filter{Drifted: tt.drifted, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Name != tt.want {
			t.Errorf("drifted=%v lists %d environments, want %s alone", *tt.drifted, len(list), tt.want)
		}
	}

	// Put back, and checked on demand: back in sync, without waiting for
	// the schedule.
	if err := os.WriteFile(filepath.Join(work, "config/app.yaml"), []byte("mode: demo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	e, err := svc.RequestDriftCheck(ctx, member, daily.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Drift.Checking || e.Drift.RequestedBy != "ada" {
		t.Errorf("after the request: %+v, want a check in progress asked for by ada", e.Drift)
	}
	if d := checked(daily); d.State != envs.DriftInSync || d.DriftedSince != nil {
		t.Errorf("on demand: %+v, want back in sync", d)
	}
	if !hasEvent(t, svc, daily.ID, "Back in sync") || !hasEvent(t, svc, daily.ID, "Drift check requested by ada") {
		t.Errorf("timeline lacks the request or the return to sync")
	}

	// Interval off: checked on demand only. (The clock stays within the
	// environments' TTL: the reaper runs on it too.)
	clk.Add(24 * time.Hour)
	if _, err := svc.RequestDriftCheck(ctx, member, unscheduled.ID); err != nil {
		t.Fatal(err)
	}
	if d := checked(unscheduled); d.State != envs.DriftInSync || d.NextCheck != nil {
		t.Errorf("interval off, on demand: %+v", d)
	}
	schedule(1) // the daily one; never the other
	checked(daily)
	if got := metrics.count("local/in_sync"); got != 4 {
		t.Errorf("%d in-sync checks counted, want 4", got)
	}
	if got := metrics.count("local/drifted"); got != 1 {
		t.Errorf("%d drifted checks counted, want 1", got)
	}
	if got := len(rcv.Accepted()); got != 1 {
		t.Errorf("%d drift notices, want 1 (coming back in sync is no drift)", got)
	}

	// Someone else's environment, or one that is not ready, is refused.
	if _, err := svc.RequestDriftCheck(ctx, envs.Actor{Name: "eve", UserID: "usr-eve", Role: envs.RoleMember}, daily.ID); envs.ErrorCode(err) != envs.EForbidden {
		t.Errorf("another member's request: %v, want forbidden", err)
	}
	if _, err := svc.Destroy(ctx, member, unscheduled.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RequestDriftCheck(ctx, member, unscheduled.ID); envs.ErrorCode(err) != envs.EConflict || !strings.Contains(err.Error(), "only the stack of a ready environment") {
		t.Errorf("a destroying environment's check: %v, want a conflict saying why", err)
	}

	// With the job queue stopped, however often a check is asked for (and
	// the scheduler runs), one job waits for it.
	if err := svc.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stopped = true
	clk.Add(2 * time.Hour)
	for range 3 {
		if _, err := svc.RequestDriftCheck(ctx, member, daily.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.ScheduleDriftChecks(ctx); err != nil {
		t.Fatal(err)
	}
	var jobs int
	if err := db.SQL().QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'drift_check' AND state = 'available'`).Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if jobs != 1 {
		t.Errorf("%d drift check jobs queued for one environment, want 1", jobs)
	}
}
