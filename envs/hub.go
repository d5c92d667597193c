package envs

import (
	"context"
	"sync"
)

// hub wakes subscribers (SSE streams) when an environment's timeline grows.
// It only carries "something changed"; subscribers read the events from the
// database, so a missed wake-up loses nothing and streams also poll, which
// covers events committed by another portal replica.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

func newHub() *hub { return &hub{subs: map[string]map[chan struct{}]struct{}{}} }

// subscribe returns a channel that receives a value after each change to the
// environment (coalesced), and a function to unsubscribe.
func (h *hub) subscribe(envID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs[envID] == nil {
		h.subs[envID] = map[chan struct{}]struct{}{}
	}
	h.subs[envID][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[envID], ch)
		if len(h.subs[envID]) == 0 {
			delete(h.subs, envID)
		}
		h.mu.Unlock()
	}
}

func (h *hub) notify(envIDs ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range envIDs {
		for ch := range h.subs[id] {
			select {
			case ch <- struct{}{}:
			default: // a wake-up is already pending
			}
		}
	}
}

// lockEnvironment serialises work on one environment, so a destroy never
// runs while the same environment's provision is starting processes: first
// inside this process (so waiting jobs hold no database connection), then
// across every replica sharing the database (storage.DB.LockEnvironment: an
// advisory lock on PostgreSQL, nothing more needed on SQLite).
func (s *Service) lockEnvironment(ctx context.Context, id string) (func(), error) {
	unlockLocal := s.locks.lock(id)
	unlockShared, err := s.store.LockEnvironment(ctx, id)
	if err != nil {
		unlockLocal()
		return nil, err
	}
	return func() {
		unlockShared()
		unlockLocal()
	}, nil
}

// keyedMutex serialises work on one environment inside this process.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedEntry{}
	}
	e := k.locks[key]
	if e == nil {
		e = &keyedEntry{}
		k.locks[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
