package envs

import (
	"context"
	"sync"
)

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
