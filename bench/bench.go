// Package bench measures Mayfly against the limits in issue 6: how much the
// orchestrator adds to a launch, and how quickly the reaper acts when many
// environments expire at once. Each figure comes with a baseline measured in
// the same run. Nothing here asserts anything about time: `make bench` runs
// it for real, and a smoke test with tiny sizes keeps it from rotting.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/storage"
)

// Options sizes one run.
type Options struct {
	DatabaseURL string `json:"-"` // "" is SQLite in DataDir
	DataDir     string `json:"-"`

	Launches    int `json:"launches"`    // launches in the saturated run
	Concurrency int `json:"concurrency"` // concurrent Launch calls in the saturated run
	Sequential  int `json:"sequential"`  // launches one at a time (the unsaturated latency)

	ReaperTotal    int `json:"reaper_total"`    // environments in the database during the reaper run
	ReaperExpiring int `json:"reaper_expiring"` // of which expire in the same second

	// Profiled, if set, is called once the launch and reaper runs are
	// done (bench/run -cpuprofile stops its profile there).
	Profiled func() `json:"-"`
}

// Run is the raw result of one run on one database.
type Run struct {
	Database string        `json:"database"`
	Options  Options       `json:"options"`
	Launch   *LaunchResult `json:"launch,omitempty"`
	Reaper   *ReaperResult `json:"reaper,omitempty"`
	HTTP     *HTTPResult   `json:"http,omitempty"`
	Seconds  float64       `json:"seconds"`
}

// Latency is a distribution in milliseconds.
type Latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// LaunchResult is the orchestration overhead with a provider that takes no
// time, against the same database writes done directly.
type LaunchResult struct {
	Launches     int     `json:"launches"`
	Concurrency  int     `json:"concurrency"`
	PerSecond    float64 `json:"launches_per_s"`
	Saturated    Latency `json:"saturated_latency"`  // created_at to ready, under load
	Unsaturated  Latency `json:"sequential_latency"` // Launch call to ready, one at a time
	BaselineRate float64 `json:"baseline_per_s"`
	Baseline     Latency `json:"baseline_latency"`
	Ratio        float64 `json:"ratio"` // PerSecond / BaselineRate
}

// ReaperResult is the lag from expires_at to destroying when many
// environments expire in the same second.
type ReaperResult struct {
	Total          int     `json:"total"`
	Expiring       int     `json:"expiring"`
	SeedSeconds    float64 `json:"seed_s"`
	Lag            Latency `json:"lag"`                 // expires_at to destroying
	AllDestroyedS  float64 `json:"all_destroyed_s"`     // expires_at to the last destroyed
	LateLaunches   int     `json:"late_launches"`       // launched after their own expiry (seeding overran)
	Plan           string  `json:"plan"`                // the sweep's scan, explained
	BaselineLagP99 float64 `json:"baseline_lag_p99_ms"` // one environment expiring alone
	Ratio          float64 `json:"ratio_p99_to_single"` // Lag.P99 / BaselineLagP99
}

// Execute runs the measurements on one database.
func Execute(ctx context.Context, opt Options) (*Run, error) {
	start := time.Now()
	h, err := newHarness(ctx, opt)
	if err != nil {
		return nil, err
	}
	defer h.close()
	run := &Run{Database: h.db.Dialect(), Options: opt}
	if run.Launch, err = h.launch(ctx, opt); err != nil {
		return nil, fmt.Errorf("bench: launch: %w", err)
	}
	if run.Reaper, err = h.reaper(ctx, opt, run.Launch.PerSecond); err != nil {
		return nil, fmt.Errorf("bench: reaper: %w", err)
	}
	if opt.Profiled != nil {
		opt.Profiled()
	}
	run.Seconds = time.Since(start).Seconds()
	return run, nil
}

// --- the service under test ---

// instantProvider's stacks are ready at once: what is measured is the
// orchestrator, the provider's own time aside.
type instantProvider struct{}

func (instantProvider) Name() string                             { return "instant" }
func (instantProvider) ValidateStack(json.RawMessage) error      { return nil }
func (instantProvider) Stacks(context.Context) ([]string, error) { return nil, nil }
func (instantProvider) Provision(_ context.Context, r envs.ProvisionRequest) (string, error) {
	return r.EnvironmentID, nil
}
func (instantProvider) Status(context.Context, string) (envs.StackStatus, error) {
	return envs.StackStatus{State: envs.StackReady, Outputs: map[string]string{"url": "http://example.invalid/"}}, nil
}
func (instantProvider) Destroy(context.Context, string) (bool, error) { return true, nil }
func (instantProvider) Logs(context.Context, string, string, int) ([]envs.LogStream, error) {
	return nil, nil
}

const instantTemplate = `name: instant
version: 1.0.0
kind: demo
description: ready at once
owner: bench
provider: instant
ttl: {default: 1h, max: 2h}
stack: {}
`

// collector receives the orchestrator's own measurements.
type collector struct {
	ready     chan time.Duration
	mu        sync.Mutex
	lags      []time.Duration
	destroyed int
	lastDone  time.Time
}

func (c *collector) ProvisionDone(_ string, d time.Duration, ok bool) {
	if ok {
		c.ready <- d
	}
}

func (c *collector) DestroyDone(string, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.destroyed++
	c.lastDone = time.Now()
}

func (c *collector) ReaperLag(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lags = append(c.lags, d)
}

type harness struct {
	db      *storage.DB
	svc     *envs.Service
	metrics *collector
	version int64
}

func newHarness(ctx context.Context, opt Options) (*harness, error) {
	db, err := storage.Open(ctx, opt.DatabaseURL, opt.DataDir)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		db.Close()
		return nil, err
	}
	cipher, err := envs.NewCipher(make([]byte, 32))
	if err != nil {
		db.Close()
		return nil, err
	}
	m := &collector{ready: make(chan time.Duration, opt.Launches+opt.Sequential+opt.ReaperExpiring+16)}
	// The defaults Mayfly runs with, except a short provisioning poll: the
	// instant provider is ready on the first status check anyway.
	svc, err := envs.New(envs.Config{Store: db, Providers: []envs.Provider{instantProvider{}}, Cipher: cipher,
		Metrics: m, PollInterval: 10 * time.Millisecond})
	if err != nil {
		db.Close()
		return nil, err
	}
	if _, _, err := svc.Publish(ctx, envs.System, []byte(instantTemplate)); err != nil {
		db.Close()
		return nil, err
	}
	tpl, err := svc.Template(ctx, "instant")
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := svc.Start(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &harness{db: db, svc: svc, metrics: m, version: tpl.Versions[0].ID}, nil
}

func (h *harness) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = h.svc.Stop(ctx)
	_ = h.db.Close()
}

var member = envs.Actor{Name: "bench", Role: envs.RoleMember}

// --- orchestration overhead ---

func (h *harness) launch(ctx context.Context, opt Options) (*LaunchResult, error) {
	res := &LaunchResult{Launches: opt.Launches, Concurrency: opt.Concurrency}

	// Unsaturated: one launch at a time, from the call to ready.
	seq := make([]time.Duration, 0, opt.Sequential)
	for i := range opt.Sequential {
		t0 := time.Now()
		if _, err := h.svc.Launch(ctx, member, envs.LaunchRequest{Template: "instant", Name: fmt.Sprintf("seq-%d", i)}); err != nil {
			return nil, err
		}
		if _, err := h.waitReady(ctx); err != nil {
			return nil, err
		}
		seq = append(seq, time.Since(t0))
	}
	res.Unsaturated = latency(seq)

	// Saturated: many callers at once; the rate is launches until the last
	// is ready.
	t0 := time.Now()
	errs := make(chan error, opt.Launches)
	sem := make(chan struct{}, opt.Concurrency)
	var wg sync.WaitGroup
	for i := range opt.Launches {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := h.svc.Launch(ctx, member, envs.LaunchRequest{Template: "instant", Name: fmt.Sprintf("sat-%d", i)})
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	sat := make([]time.Duration, 0, opt.Launches)
	for range opt.Launches {
		d, err := h.waitReady(ctx)
		if err != nil {
			return nil, err
		}
		sat = append(sat, d)
	}
	res.PerSecond = float64(opt.Launches) / time.Since(t0).Seconds()
	res.Saturated = latency(sat)

	// Baseline: the environment and timeline writes of a launch to ready,
	// done directly in a loop (without the job queue's rows and locks).
	base := make([]time.Duration, 0, opt.Launches)
	t0 = time.Now()
	for i := range opt.Launches {
		t := time.Now()
		if err := h.directLaunch(ctx, fmt.Sprintf("base-%d", i)); err != nil {
			return nil, err
		}
		base = append(base, time.Since(t))
	}
	res.BaselineRate = float64(opt.Launches) / time.Since(t0).Seconds()
	res.Baseline = latency(base)
	res.Ratio = res.PerSecond / res.BaselineRate
	return res, nil
}

func (h *harness) waitReady(ctx context.Context) (time.Duration, error) {
	select {
	case d := <-h.metrics.ready:
		return d, nil
	case <-time.After(2 * time.Minute):
		return 0, errors.New("no environment became ready within 2 minutes")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// directLaunch writes what a launch writes on its way to ready: the row and
// its first event; provisioning and its event; the handle and its event;
// ready and its event.
func (h *harness) directLaunch(ctx context.Context, name string) error {
	now := time.Now().UTC().Truncate(time.Microsecond)
	row := h.row("env-"+name, name, "pending", now, now.Add(time.Hour))
	ev := func(tx *storage.Tx, status, msg string) error {
		return tx.AddEvent(ctx, &storage.Event{EnvironmentID: row.ID, At: now, Kind: "status", Status: status, Message: msg, Actor: "bench"})
	}
	steps := []func(tx *storage.Tx) error{
		func(tx *storage.Tx) error {
			if err := tx.CreateEnvironment(ctx, row); err != nil {
				return err
			}
			return ev(tx, "pending", "Launched instant@1.0.0 with a TTL of 1h")
		},
		func(tx *storage.Tx) error {
			if _, err := tx.Transition(ctx, row.ID, []string{"pending"}, "provisioning", storage.EnvironmentUpdate{ProvisionStartedAt: storage.At(now)}); err != nil {
				return err
			}
			return ev(tx, "provisioning", "Provisioning on instant")
		},
		func(tx *storage.Tx) error {
			if err := tx.UpdateEnvironment(ctx, row.ID, storage.EnvironmentUpdate{Handle: storage.Set(row.ID), UpdatedAt: storage.Set(now)}); err != nil {
				return err
			}
			return ev(tx, "", "Stack created: "+row.ID)
		},
		func(tx *storage.Tx) error {
			if _, err := tx.Transition(ctx, row.ID, []string{"provisioning"}, "ready", storage.EnvironmentUpdate{ReadyAt: storage.At(now), Outputs: storage.Set(`{"url":"http://example.invalid/"}`)}); err != nil {
				return err
			}
			return ev(tx, "ready", "Ready")
		},
	}
	for _, step := range steps {
		if err := h.db.InTx(ctx, step); err != nil {
			return err
		}
	}
	return nil
}

func (h *harness) row(id, name, status string, now, expires time.Time) *storage.Environment {
	return &storage.Environment{
		ID: id, Name: name, Owner: "bench", TemplateName: "instant", Version: "1.0.0", VersionID: h.version,
		Kind: "demo", Provider: "instant", Params: "{}", Status: status, Outputs: "{}", Facts: "{}",
		CreatedAt: now, UpdatedAt: now, ExpiresAt: expires, MaxExpiresAt: now.Add(2 * time.Hour),
	}
}

// --- reaper lag ---

func (h *harness) reaper(ctx context.Context, opt Options, launchRate float64) (*ReaperResult, error) {
	res := &ReaperResult{Total: opt.ReaperTotal, Expiring: opt.ReaperExpiring}
	seedStart := time.Now()

	// The environments that do not expire: written directly in batches
	// (launching 100,000 through the service would take most of the time
	// box). They are ready and expire in an hour, so the reaper's scans
	// must step over them.
	fill := opt.ReaperTotal - opt.ReaperExpiring
	for i := 0; i < fill; i += 1000 {
		err := h.db.InTx(ctx, func(tx *storage.Tx) error {
			now := time.Now().UTC().Truncate(time.Microsecond)
			for j := i; j < min(i+1000, fill); j++ {
				name := fmt.Sprintf("fill-%d", j)
				if err := tx.CreateEnvironment(ctx, h.row("env-"+name, name, "ready", now, now.Add(time.Hour))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}

	// Baseline: one environment expiring alone, on the same database.
	single := time.Now().Add(time.Second)
	if err := h.launchUntil(ctx, "single", 1, 1, single); err != nil {
		return nil, err
	}
	if err := h.waitDestroyed(ctx, 1, time.Minute); err != nil {
		return nil, err
	}
	h.metrics.mu.Lock()
	res.BaselineLagP99 = latency(h.metrics.lags).P99
	h.metrics.lags, h.metrics.destroyed = nil, 0
	h.metrics.mu.Unlock()

	// The expiring ones go through Launch, with a TTL chosen so that they
	// all expire at the same instant, once the last is launched (estimated
	// from the launch rate measured before).
	expiry := time.Now().Add(2*time.Second + time.Duration(1.5*float64(opt.ReaperExpiring)/max(launchRate, 1)*float64(time.Second)))
	if err := h.launchUntil(ctx, "exp", opt.ReaperExpiring, opt.Concurrency, expiry); err != nil {
		return nil, err
	}
	if time.Now().After(expiry) {
		res.LateLaunches = opt.ReaperExpiring // at least some: the lag includes launching
	}
	res.SeedSeconds = time.Since(seedStart).Seconds()
	if err := h.waitDestroyed(ctx, opt.ReaperExpiring, 10*time.Minute+time.Until(expiry)); err != nil {
		return nil, err
	}
	h.metrics.mu.Lock()
	res.Lag = latency(h.metrics.lags)
	res.AllDestroyedS = h.metrics.lastDone.Sub(expiry).Seconds()
	h.metrics.mu.Unlock()
	res.Ratio = res.Lag.P99 / max(res.BaselineLagP99, 0.001)

	plan, err := h.explainSweep(ctx)
	if err != nil {
		return nil, err
	}
	res.Plan = plan
	return res, nil
}

// launchUntil launches n environments whose TTL ends at expiry.
func (h *harness) launchUntil(ctx context.Context, prefix string, n, concurrency int, expiry time.Time) error {
	errs := make(chan error, n)
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ttl := max(time.Until(expiry), envs.MinTTL)
			_, err := h.svc.Launch(ctx, member, envs.LaunchRequest{Template: "instant",
				Name: fmt.Sprintf("%s-%d", prefix, i), TTL: fmt.Sprintf("%dus", ttl.Microseconds())})
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (h *harness) waitDestroyed(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		h.metrics.mu.Lock()
		done := h.metrics.destroyed
		h.metrics.mu.Unlock()
		if done >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d environments destroyed after %s", done, n, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// explainSweep explains how the reaper picks the environments due (the
// subquery of storage.ExpireDue).
func (h *harness) explainSweep(ctx context.Context) (string, error) {
	q := `EXPLAIN QUERY PLAN SELECT id FROM environments WHERE status IN ('pending','provisioning','ready','failed') AND expires_at <= ? AND stack_cleaned_at IS NULL ORDER BY expires_at LIMIT 1000`
	if h.db.Dialect() == "postgres" {
		q = `EXPLAIN SELECT id FROM environments WHERE status IN ('pending','provisioning','ready','failed') AND expires_at <= $1 AND stack_cleaned_at IS NULL ORDER BY expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED`
	}
	rows, err := h.db.SQL().QueryContext(ctx, q, time.Now().UTC())
	if err != nil {
		return "", fmt.Errorf("explain: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	var out []byte
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		// SQLite: id, parent, notused, detail; PostgreSQL: one text column.
		out = fmt.Appendf(out, "%v\n", vals[len(vals)-1])
	}
	return string(out), rows.Err()
}

func latency(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	pct := func(p float64) float64 {
		i := min(int(p*float64(len(s))), len(s)-1)
		return float64(s[i].Microseconds()) / 1000
	}
	return Latency{N: len(s), P50: pct(0.50), P99: pct(0.99), Max: float64(s[len(s)-1].Microseconds()) / 1000}
}
