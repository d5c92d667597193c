package envs

import (
	"context"
	"fmt"
)

// ParamChoices returns, per parameter, the choices the version's provider
// offers for it right now (the snapshots a DR drill can restore, newest
// first). version "" is the latest. Parameters without provider choices are
// absent.
func (s *Service) ParamChoices(ctx context.Context, template, version string) (map[string][]Choice, error) {
	t, err := s.Template(ctx, template)
	if err != nil {
		return nil, err
	}
	v, ok := t.Latest()
	if version != "" {
		ok = false
		for _, cand := range t.Versions {
			if cand.Spec.Version == version {
				v, ok = cand, true
			}
		}
	}
	if !ok {
		return nil, Errorf(ENotFound, "template %s has no version %q", template, version)
	}
	pc, isChoicer := s.providers[v.Spec.Provider].(ParamChoicer)
	out := map[string][]Choice{}
	if !isChoicer {
		return out, nil
	}
	for _, p := range v.Spec.Parameters {
		choices, ok, err := pc.ParamChoices(ctx, v.Spec.Stack, p.Name)
		if err != nil {
			return nil, fmt.Errorf("envs: choices of %s: %w", p.Name, err)
		}
		if ok {
			out[p.Name] = choices
		}
	}
	return out, nil
}
