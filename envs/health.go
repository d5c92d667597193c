package envs

import (
	"context"
	"errors"

	"github.com/mayflyhq/mayfly/storage"
)

// checkReady looks at the stacks of ready environments: a stack that broke
// after it came up (local: its processes died in a crash, or a reboot while
// Mayfly was down; aws: deleted or left failed outside Mayfly) is flagged on
// its environment with the reason and an event, so nobody is left wondering
// why its URL does not answer, and the flag is cleared once it is healthy
// again. A provider that cannot tell (unreachable, throttled) changes
// nothing.
func (s *Service) checkReady(ctx context.Context) error {
	var after *storage.ListKey
	for {
		ready, err := s.store.ReadyStacks(ctx, after, healthPage)
		if err != nil {
			return err
		}
		if err := s.checkHealthOf(ctx, ready); err != nil {
			return err
		}
		if len(ready) < healthPage {
			return nil
		}
		last := ready[len(ready)-1]
		after = &storage.ListKey{CreatedAt: last.CreatedAt, ID: last.ID}
	}
}

// healthPage is how many ready environments a health sweep asks the
// providers about at once; the sweep pages through all of them.
var healthPage = 500

// checkHealthOf asks each provider about its stacks among ready and
// records the verdicts.
func (s *Service) checkHealthOf(ctx context.Context, ready []storage.ReadyStack) error {
	byProvider := map[string][]*storage.ReadyStack{}
	for i := range ready {
		r := &ready[i]
		byProvider[r.Provider] = append(byProvider[r.Provider], r)
	}
	for name, rows := range byProvider {
		hc := healthChecker(s.providers[name])
		if hc == nil {
			continue
		}
		handles := make([]string, len(rows))
		for i, r := range rows {
			handles[i] = r.Handle
		}
		verdicts, err := callProvider(ctx, s, s.providers[name], "StackHealth", func(ctx context.Context) (map[string]string, error) {
			return hc.StackHealth(ctx, handles)
		})
		if err != nil {
			// What could be judged still counts; the rest waits for the
			// next sweep.
			s.log.Warn("could not check the health of every stack", "provider", name, "err", err)
		}
		for _, r := range rows {
			if verdict, ok := verdicts[r.Handle]; ok {
				if err := s.flagHealth(ctx, r, verdict); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// flagHealth records a ready environment's health verdict ("" healthy) in
// its status reason, with an event when it changes. Only while the
// environment is still ready: a destroy requested since owns the status.
func (s *Service) flagHealth(ctx context.Context, r *storage.ReadyStack, verdict string) error {
	reason := ""
	if verdict != "" {
		// The verdict may quote a secret: mask it with the environment's
		// (read whole only here, for the few that are not healthy).
		row, err := s.store.Environment(ctx, r.ID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		reason = "Stack is not healthy: " + oneLine(s.masker(row).mask(verdict))
	}
	if reason == r.StatusReason {
		return nil
	}
	msg := reason
	if reason == "" {
		msg = "Stack is healthy again"
	}
	// The flag and its timeline line are one change: whoever sees the one
	// sees the other.
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		ok, err := tx.Transition(ctx, r.ID, statusStrings(StatusReady), string(StatusReady),
			storage.EnvironmentUpdate{StatusReason: storage.Set(reason), UpdatedAt: storage.Set(s.now())})
		if err != nil || !ok {
			return err
		}
		return s.addEvent(ctx, tx, r.ID, EventProvider, "", msg, "")
	})
	if err == nil {
		s.hub.notify(r.ID)
	}
	return err
}

// healthChecker is how a provider's ready stacks are checked: its own
// HealthChecker. Other providers are not checked: their Status may cost API
// calls and report events meant for provisioning.
func healthChecker(p Provider) HealthChecker {
	hc, _ := p.(HealthChecker)
	return hc
}
