package envs

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// Orphan is a stack a provider knows about that no live environment owns.
type Orphan struct {
	Provider string
	Handle   string
	Reason   string
}

// Orphans lists stacks without a live environment, for the admin view:
// a cloud provider's as the orphan sweep judges them, in every region and
// account it sweeps. A provider or scope that cannot be listed hides
// nothing else: the orphans found are returned with the error.
func (s *Service) Orphans(ctx context.Context) ([]Orphan, error) {
	var out []Orphan
	var errs []error
	for _, name := range s.providerNames() {
		p := s.providers[name]
		if d, ok := p.(StackDescriber); ok && name != "local" {
			found, err := s.cloudOrphans(ctx, name, d, s.cfg.Orphans.Grace)
			for _, o := range found {
				out = append(out, o.Orphan)
			}
			errs = append(errs, err)
			continue
		}
		found, err := s.orphansOf(ctx, p)
		out = append(out, found...)
		errs = append(errs, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Handle < out[j].Handle })
	return out, errors.Join(errs...)
}

func (s *Service) orphansOf(ctx context.Context, p Provider) ([]Orphan, error) {
	handles, err := callProvider(ctx, s, p, "Stacks", p.Stacks)
	if err != nil {
		return nil, fmt.Errorf("envs: list %s stacks: %w", p.Name(), err)
	}
	if len(handles) == 0 {
		return nil, nil
	}
	rows, err := s.store.EnvironmentsByHandle(ctx, p.Name(), handles)
	if err != nil {
		return nil, err
	}
	owner := map[string]Status{}
	for _, r := range rows {
		if r.StackID == "" || r.StackID == r.ID {
			owner[r.ID] = Status(r.Status) // its first stack is keyed by its id
		}
		if r.Handle != "" {
			owner[r.Handle] = Status(r.Status)
		}
	}
	// The other stacks of replaced environments (a candidate, a standby,
	// and the first once replaced): theirs while not destroyed.
	stacks, err := s.store.StacksByHandle(ctx, p.Name(), handles)
	if err != nil {
		return nil, err
	}
	for _, st := range stacks {
		status := StatusReady
		if StackPhase(st.Status) == StackDestroyed {
			status = StatusDestroyed
		}
		for _, h := range []string{st.ID, st.Handle} {
			if _, seen := owner[h]; h != "" && !seen {
				owner[h] = status
			}
		}
	}
	var out []Orphan
	for _, h := range handles {
		st, ok := owner[h]
		switch {
		case !ok:
			out = append(out, Orphan{Provider: p.Name(), Handle: h, Reason: "no environment has this stack"})
		case st == StatusDestroyed:
			out = append(out, Orphan{Provider: p.Name(), Handle: h, Reason: "its environment is destroyed"})
		}
	}
	return out, nil
}

// sweepOrphans destroys the orphans of providers that own the host they run
// on (local): such a stack can only be Mayfly's. Cloud providers' orphans are
// reported, never deleted here.
func (s *Service) sweepOrphans(ctx context.Context) error {
	p, ok := s.providers["local"]
	if !ok {
		return nil
	}
	orphans, err := s.orphansOf(ctx, p)
	if err != nil {
		return err
	}
	for _, o := range orphans {
		s.log.Warn("destroying orphaned stack", "provider", o.Provider, "stack", o.Handle, "reason", o.Reason)
		if _, err := s.callDestroy(ctx, p, o.Handle); err != nil {
			s.log.Error("destroy orphaned stack", "stack", o.Handle, "err", err)
		}
	}
	return nil
}
