package envs

import (
	"context"
	"fmt"
	"time"
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

// checkChoices refuses, at launch, a value that is not among the provider's
// current choices (a snapshot of another database, a deleted one), naming
// the field. When the provider cannot be asked the launch goes ahead: the
// provider checks again when it provisions.
func (s *Service) checkChoices(ctx context.Context, spec Spec, values map[string]string) []FieldError {
	pc, ok := s.providers[spec.Provider].(ParamChoicer)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var fields []FieldError
	for _, p := range spec.Parameters {
		v := values[p.Name]
		if v == "" {
			continue // empty: the provider's default (the latest snapshot)
		}
		choices, ok, err := pc.ParamChoices(ctx, spec.Stack, p.Name)
		if err != nil {
			s.log.Warn("could not check a parameter's choices at launch", "param", p.Name, "err", err)
			continue
		}
		if !ok {
			continue
		}
		found := false
		for _, c := range choices {
			found = found || c.Value == v
		}
		if !found {
			fields = append(fields, FieldError{Field: "params." + p.Name, Message: fmt.Sprintf("%q is not one of the available choices", v)})
		}
	}
	return fields
}
