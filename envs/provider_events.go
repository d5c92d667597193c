package envs

import (
	"context"

	"github.com/mayflyhq/mayfly/storage"
)

// providerEvents appends provider events to the timeline, each once: events
// a provider may repeat (those with an ID) are skipped when their message
// is already there. The timeline is read only when such events arrive.
// Messages are masked (a command line may quote a secret).
func (s *Service) providerEvents(ctx context.Context, r *storage.Environment, evs []ProviderEvent) {
	if len(evs) == 0 {
		return
	}
	envID, m := r.ID, s.maskerOf(ctx, r)
	var recorded map[string]bool
	for _, ev := range evs {
		if ev.ID != "" && recorded == nil {
			recorded = map[string]bool{}
			rows, err := s.store.Events(ctx, envID, 0, 0)
			if err != nil {
				s.log.Error("read timeline", "environment", envID, "err", err)
			}
			for _, r := range rows {
				if r.Kind == EventProvider {
					recorded[r.Message] = true
				}
			}
		}
		msg := oneLine(m.mask(ev.Message))
		if ev.ID != "" && recorded[msg] {
			continue
		}
		if recorded != nil {
			recorded[msg] = true
		}
		s.event(ctx, envID, EventProvider, msg, "")
	}
}
