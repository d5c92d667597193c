package envs

import (
	"context"
	"slices"
	"time"
)

// DeprecationAction is what happens to a deprecated version's
// environments after its deprecation date.
type DeprecationAction string

const (
	// DeprecationReplace replaces them with the template's newest version.
	DeprecationReplace DeprecationAction = "replace"
	// DeprecationDestroy destroys them.
	DeprecationDestroy DeprecationAction = "destroy"
)

// VersionState is what the catalog says of an environment's version.
type VersionState struct {
	// Deprecated says its version is deprecated; DeprecationDate and
	// DeprecationAction say what happens to it then (nil, "": nothing).
	Deprecated        bool
	DeprecationNote   string
	DeprecationDate   *time.Time
	DeprecationAction DeprecationAction
	// Newer is the newest version of its template greater than its own
	// that can be launched (not deprecated, not a pre-release); "" if none.
	Newer string
	// Targets are the versions a replace may build, newest first: every
	// version of its template on its provider that is not retired, its
	// own included (a fresh stack of the same version).
	Targets []ReplaceTarget
}

// ReplaceTarget is a version a replace may build.
type ReplaceTarget struct {
	Version    string
	Deprecated bool
}

// newestAfter is the newest launchable version of versions (newest first)
// that is newer than the one at index i ("" when none).
func newestAfter(versions []Version, i int) string {
	for _, v := range versions[:i] {
		if sv, _ := ParseSemver(v.Spec.Version); v.DeprecatedAt == nil && sv.Prerelease == "" {
			return v.Spec.Version
		}
	}
	return ""
}

// versionStateOf is the state of version `version` among its template's
// versions (newest first).
func versionStateOf(versions []Version, version string, now time.Time) VersionState {
	i := slices.IndexFunc(versions, func(v Version) bool { return v.Spec.Version == version })
	if i < 0 {
		return VersionState{}
	}
	v := versions[i]
	st := VersionState{Deprecated: v.DeprecatedAt != nil, Newer: newestAfter(versions, i)}
	for _, o := range versions {
		if o.Spec.Provider == v.Spec.Provider && !o.Retired(now) {
			st.Targets = append(st.Targets, ReplaceTarget{Version: o.Spec.Version, Deprecated: o.DeprecatedAt != nil})
		}
	}
	if st.Deprecated {
		st.DeprecationNote = v.DeprecationNote
		if v.DeprecationDoneAt == nil {
			st.DeprecationDate, st.DeprecationAction = v.DeprecationDate, v.DeprecationAction
		}
	}
	return st
}

// attach fills what listings and pages show beside an environment's row:
// its drift and its version's state, a query each for the whole list.
func (s *Service) attach(ctx context.Context, list []*Environment) error {
	if err := s.attachDrift(ctx, list); err != nil {
		return err
	}
	if err := s.attachExpiry(ctx, list); err != nil {
		return err
	}
	return s.attachVersions(ctx, list)
}

// attachVersions fills VersionState from the versions of the templates
// of the list (one query).
func (s *Service) attachVersions(ctx context.Context, list []*Environment) error {
	var names []string
	for _, e := range list {
		if !slices.Contains(names, e.Template) {
			names = append(names, e.Template)
		}
	}
	if len(names) == 0 {
		return nil
	}
	rows, err := s.store.Versions(ctx, names...)
	if err != nil {
		return err
	}
	byName := map[string][]Version{}
	for i := range rows {
		v, err := versionFromRow(&rows[i])
		if err != nil {
			return err
		}
		byName[v.Spec.Name] = append(byName[v.Spec.Name], v)
	}
	for _, e := range list {
		e.VersionState = versionStateOf(byName[e.Template], e.Version, s.now())
	}
	return nil
}

// countLive fills each version's Live count, one grouped query for all.
func (s *Service) countLive(ctx context.Context, ts []Template) error {
	names := make([]string, 0, len(ts))
	for _, t := range ts {
		names = append(names, t.Name)
	}
	counts, err := s.store.LiveCountsByVersion(ctx, names...)
	if err != nil {
		return err
	}
	for i := range ts {
		for j := range ts[i].Versions {
			ts[i].Versions[j].Live = counts[ts[i].Versions[j].ID]
		}
	}
	return nil
}
