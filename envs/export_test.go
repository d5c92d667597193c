package envs

import (
	"context"
	"sync"
)

// Seams for the black-box tests of this package.

// WarnExpiring runs the expiry warning pass (the reaper's loop runs it
// before every batch).
func (s *Service) WarnExpiring(ctx context.Context) error { return s.warnExpiring(ctx) }

// ReapExpired runs the reaper's batches once.
func (s *Service) ReapExpired(ctx context.Context) (int, error) { return s.reapExpired(ctx) }

// ObserveNotices records the expiry notices committed until restore.
func ObserveNotices() (got func() []Notice, restore func()) {
	var mu sync.Mutex
	var seen []Notice
	f := func(n Notice) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, n)
	}
	observeNotice.Store(&f)
	return func() []Notice {
			mu.Lock()
			defer mu.Unlock()
			return append([]Notice(nil), seen...)
		}, func() {
			observeNotice.Store(nil)
		}
}
