package envs_test

import (
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
)

func TestCanTransition(t *testing.T) {
	allowed := map[[2]envs.Status]bool{
		{envs.StatusPending, envs.StatusProvisioning}:     true,
		{envs.StatusPending, envs.StatusFailed}:           true,
		{envs.StatusPending, envs.StatusDestroying}:       true,
		{envs.StatusProvisioning, envs.StatusReady}:       true,
		{envs.StatusProvisioning, envs.StatusFailed}:      true,
		{envs.StatusProvisioning, envs.StatusDestroying}:  true,
		{envs.StatusReady, envs.StatusDestroying}:         true,
		{envs.StatusFailed, envs.StatusDestroying}:        true,
		{envs.StatusFailed, envs.StatusDestroyed}:         true,
		{envs.StatusDestroying, envs.StatusDestroyed}:     true,
		{envs.StatusDestroying, envs.StatusDestroyFailed}: true,
		{envs.StatusDestroyFailed, envs.StatusDestroying}: true,
		{envs.StatusDestroyFailed, envs.StatusDestroyed}:  true,
	}
	for _, from := range envs.Statuses {
		for _, to := range envs.Statuses {
			want := allowed[[2]envs.Status{from, to}]
			if got := envs.CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
}

func TestStatusLive(t *testing.T) {
	live := map[envs.Status]bool{envs.StatusPending: true, envs.StatusProvisioning: true, envs.StatusReady: true}
	for _, s := range envs.Statuses {
		if got := s.Live(); got != live[s] {
			t.Errorf("%s.Live() = %v, want %v", s, got, live[s])
		}
	}
}

func TestTTLArithmetic(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	e := &envs.Environment{Status: envs.StatusReady, CreatedAt: now, ExpiresAt: now.Add(2 * time.Hour), MaxExpiresAt: now.Add(8 * time.Hour)}
	if got, want := e.TimeLeft(now.Add(30*time.Minute)), 90*time.Minute; got != want {
		t.Errorf("TimeLeft = %v, want %v", got, want)
	}
	if got := e.TimeLeft(now.Add(3 * time.Hour)); got != 0 {
		t.Errorf("TimeLeft after expiry = %v, want 0", got)
	}
	if got, want := e.ExtendableBy(), 6*time.Hour; got != want {
		t.Errorf("ExtendableBy = %v, want %v", got, want)
	}
	e.Status = envs.StatusDestroyed
	if got := e.TimeLeft(now); got != 0 {
		t.Errorf("TimeLeft of a destroyed environment = %v, want 0", got)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := map[time.Duration]string{
		2 * time.Hour:                "2h",
		90 * time.Minute:             "1h30m",
		45 * time.Second:             "45s",
		time.Hour + 2*time.Second:    "1h2s",
		0:                            "0s",
		1500 * time.Millisecond:      "2s",
		26*time.Hour + 5*time.Minute: "26h5m",
	}
	for d, want := range tests {
		if got := envs.FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
