package tofu

import (
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
)

// clockStates is a States with only a clock: staleReason asks nothing else.
type clockStates struct {
	States
	now time.Time
}

func (c clockStates) Now() time.Time { return c.now }

// TestStaleLock: only Mayfly's own locks are ever judged stale: one of
// this process's with no command running, any other process's when it is
// the only portal (SQLite), and another replica's once older than a run
// may last (PostgreSQL).
func TestStaleLock(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	p := &Provider{id: "me", pids: map[string]int{}, stacks: nil,
		cfg: Config{InitTimeout: time.Minute, PlanTimeout: time.Minute, ApplyTimeout: time.Minute, StopGrace: 10 * time.Second,
			States: clockStates{now: now}}}
	// A run may last init+plan+apply+grace: 3m10s.
	tests := []struct {
		name      string
		holder    string
		age       time.Duration
		exclusive bool
		running   bool
		stale     string // a part of the reason, "" for not stale
	}{
		{name: "someone else's, old", holder: "alice", age: time.Hour, exclusive: true},
		{name: "a look-alike name is someone else's", holder: "mayfly-runner", age: time.Hour, exclusive: true},
		{name: "this process's, its command gone", holder: holderPrefix + "me", stale: "no longer running"},
		{name: "this process's, its command running", holder: holderPrefix + "me", running: true},
		{name: "a previous run of the only portal", holder: holderPrefix + "old", exclusive: true, stale: "previous run"},
		{name: "another replica's, young", holder: holderPrefix + "other", age: 3 * time.Minute},
		{name: "another replica's, older than a run lasts", holder: holderPrefix + "other", age: 3*time.Minute + 11*time.Second, stale: "another replica"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.cfg.Exclusive = tt.exclusive
			p.pids = map[string]int{}
			if tt.running {
				p.pids["stk"] = 42
			}
			got := p.staleReason("stk", envs.TofuLock{ID: "l1", Holder: tt.holder, At: now.Add(-tt.age)})
			if (got == "") != (tt.stale == "") || !strings.Contains(got, tt.stale) {
				t.Errorf("staleReason = %q, want %q", got, tt.stale)
			}
		})
	}
}

func TestCLIConfig(t *testing.T) {
	tests := []struct {
		name         string
		cfg          Config
		want, absent []string
	}{
		{name: "mirror only", cfg: Config{Mirror: "/m"}, want: []string{`filesystem_mirror {`, `path = "/m"`}, absent: []string{"direct"}},
		{name: "downloads allowed", cfg: Config{Mirror: "/m", AllowDownloads: true}, want: []string{`path = "/m"`, "direct {}"}},
		{name: "cache", cfg: Config{PluginCache: "/c", AllowDownloads: true}, want: []string{`plugin_cache_dir = "/c"`, "direct {}"}},
		{name: "nothing: nothing installs", cfg: Config{}, want: []string{`path = "/nonexistent"`}, absent: []string{"direct"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := (&Provider{cfg: tt.cfg}).cliConfig()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("CLI config has no %q:\n%s", w, got)
				}
			}
			for _, n := range tt.absent {
				if strings.Contains(got, n) {
					t.Errorf("CLI config has %q:\n%s", n, got)
				}
			}
		})
	}
}
