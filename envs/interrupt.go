package envs

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// errDestroyRequested is why a provisioning step was cut short: its
// environment is to be destroyed, so building it further is wasted (a
// 20 s setup command delayed a destroy by as long).
var errDestroyRequested = errors.New("envs: a destroy was requested")

// destroyWatchInterval is how often a provisioning step asks the database
// whether a destroy was requested, for requests taken by another replica
// (this replica's own requests wake it at once through the hub). One
// primary-key lookup per running step; half a second keeps a destroy
// prompt without costing much even with every worker provisioning.
const destroyWatchInterval = 500 * time.Millisecond

// watchDestroy returns a context for one provisioning step of an
// environment that is cancelled, with errDestroyRequested as its cause,
// as soon as a destroy of the environment is requested: by a request on
// this replica (the hub wakes the watcher, which checks the database) or
// on any other (the watcher also asks every destroyWatchInterval). stop
// ends the watch and reports whether it cut the step.
func (s *Service) watchDestroy(ctx context.Context, id string) (_ context.Context, stop func() (interrupted bool)) {
	ctx, cancel := context.WithCancelCause(ctx)
	wake, unsubscribe := s.hub.subscribe(id)
	var cut atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(s.cfg.DestroyWatchInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			case <-tick.C:
			}
			requested, err := s.store.DestroyRequested(ctx, id)
			if err != nil {
				continue // asked again at the next tick; the step goes on meanwhile
			}
			if requested {
				cut.Store(true)
				cancel(errDestroyRequested)
				return
			}
		}
	}()
	return ctx, func() bool {
		cancel(nil)
		<-done
		unsubscribe()
		return cut.Load()
	}
}
