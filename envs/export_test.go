package envs

import (
	"context"
	"time"
)

// Seams for the black-box tests of this package.

// WarnExpiring runs the expiry warning pass (the reaper's loop runs it
// before every batch).
func (s *Service) WarnExpiring(ctx context.Context) error { return s.warnExpiring(ctx) }

// ReapExpired runs the reaper's batches once.
func (s *Service) ReapExpired(ctx context.Context) (int, error) { return s.reapExpired(ctx) }

// WaitReaperPass waits (up to 10s) until the reaper's loop has finished a
// pass since Start: its first pass runs at once, and a test that moves the
// clock after it must not race it.
func (s *Service) WaitReaperPass() bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if s.reaperPasses.Load() > 0 {
			return true
		}
		time.Sleep(time.Millisecond) // polling a goroutine, not waiting on a clock
	}
	return false
}
