package envs

import "sync"

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
