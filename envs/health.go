package envs

import (
	"context"

	"github.com/mayflyhq/mayfly/storage"
)

// checkReady looks at the stacks of ready environments on providers that
// own their host (local): a stack whose processes died (a crash, a reboot
// while Mayfly was down) is flagged on its environment with the reason, so
// nobody is left wondering why its URL does not answer.
func (s *Service) checkReady(ctx context.Context) error {
	p, ok := s.providers["local"]
	if !ok {
		return nil
	}
	ready, err := s.store.Environments(ctx, storage.EnvironmentFilter{Statuses: statusStrings(StatusReady), Limit: 500})
	if err != nil {
		return err
	}
	for i := range ready {
		r := &ready[i]
		if r.Provider != p.Name() || r.Handle == "" {
			continue
		}
		st, err := p.Status(ctx, r.Handle)
		if err != nil {
			continue // the provider could not tell; try again next sweep
		}
		reason := ""
		if st.State == StackFailed {
			reason = "Stack is not healthy: " + oneLine(st.Reason)
		}
		if reason == r.StatusReason {
			continue
		}
		if err := s.store.UpdateEnvironment(ctx, r.ID, map[string]any{"status_reason": reason, "updated_at": s.now()}); err != nil {
			return err
		}
		if reason != "" {
			s.event(ctx, r.ID, EventProvider, reason, "")
		} else {
			s.event(ctx, r.ID, EventProvider, "Stack is healthy again", "")
		}
	}
	return nil
}
