package envs

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/mayflyhq/mayfly/storage"
)

// TypedParams gives each environment's non-secret parameter values typed
// by its version's parameter schema: an int parameter as a number, a bool
// as true/false, the rest as strings. Values are stored as canonical text
// ("42", "true"); a value its type no longer reads (or a parameter the
// version does not declare) stays a string. Versions are loaded once each.
func (s *Service) TypedParams(ctx context.Context, list ...*Environment) ([]map[string]any, error) {
	types := map[int64]map[string]ParamType{}
	out := make([]map[string]any, len(list))
	for i, e := range list {
		byName, ok := types[e.VersionID]
		if !ok {
			row, err := s.store.VersionByID(ctx, e.VersionID)
			switch {
			case errors.Is(err, storage.ErrNotFound):
				byName = map[string]ParamType{}
			case err != nil:
				return nil, fmt.Errorf("envs: parameter types of %s@%s: %w", e.Template, e.Version, err)
			default:
				v, err := versionFromRow(row)
				if err != nil {
					return nil, fmt.Errorf("envs: parameter types of %s@%s: %w", e.Template, e.Version, err)
				}
				byName = map[string]ParamType{}
				for _, p := range v.Spec.Parameters {
					byName[p.Name] = p.Type
				}
			}
			types[e.VersionID] = byName
		}
		out[i] = typeValues(e.Params, byName)
	}
	return out, nil
}

func typeValues(values map[string]string, types map[string]ParamType) map[string]any {
	out := make(map[string]any, len(values))
	for name, v := range values {
		out[name] = v
		switch types[name] {
		case ParamInt:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				out[name] = n
			}
		case ParamBool:
			if b, err := strconv.ParseBool(v); err == nil {
				out[name] = b
			}
		}
	}
	return out
}
