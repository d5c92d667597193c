package envs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mayflyhq/mayfly/storage"
)

// The catalog: publishing template versions, reading them, deprecating one.

// Publish parses, validates and stores a template version. Publishing the
// same version again with the same content is a no-op (created is false);
// with other content it is refused with EConflict.
func (s *Service) Publish(ctx context.Context, actor Actor, source []byte) (v Version, created bool, err error) {
	defer func() { s.audit(ctx, actor, "template.publish", v.Spec.Name+"@"+v.Spec.Version, err) }()
	if err := Authorize(actor, PermPublish); err != nil {
		return Version{}, false, err
	}
	spec, err := ParseSpec(source)
	if err != nil {
		return Version{}, false, err
	}
	if spec.Owner == "" && !actor.IsAdmin() {
		return Version{}, false, ownerRequired(actor)
	}
	p := s.providers[spec.Provider]
	if !s.providerOn(spec.Provider) {
		return Version{}, false, Invalid("template is not valid", FieldError{Field: "provider",
			Message: s.providerUnavailable(spec.Provider)})
	}
	if sr, ok := p.(StackResolver); ok {
		resolved, err := sr.ResolveStack(spec.Stack)
		if err != nil {
			return Version{}, false, err
		}
		spec.Stack = resolved
	}
	if err := p.ValidateStack(spec.Stack); err != nil {
		var de *Error
		if errors.As(err, &de) {
			return Version{}, false, err
		}
		return Version{}, false, Invalid("template is not valid", FieldError{Field: "stack", Message: err.Error()})
	}
	digest := spec.Digest()
	sv, _ := ParseSemver(spec.Version)
	params, _ := json.Marshal(spec.Parameters)
	now := s.now()
	row := &storage.TemplateVersion{
		TemplateName: spec.Name, Version: spec.Version,
		Major: sv.Major, Minor: sv.Minor, Patch: sv.Patch, Prerelease: sv.Prerelease,
		Digest: digest, Kind: string(spec.Kind), Description: spec.Description, Owner: spec.Owner,
		Provider: spec.Provider, DefaultTTL: spec.TTL.Default, MaxTTL: spec.TTL.Max,
		Params: string(params), Stack: string(spec.Stack), Source: string(source),
		PublishedBy: actor.Name, PublishedAt: now, Teams: strings.Join(spec.Teams, ","),
		DriftInterval: spec.DriftSchedule(), DriftRemedy: string(spec.DriftRemedy()),
		Cost: encodeCost(spec.Cost), ExpiryWarnings: encodeWarnings(spec.ExpiryWarnings),
	}
	if spec.OnFailure != nil {
		row.KeepFailedStack = spec.OnFailure.KeepStack
	}
	if spec.Inactivity != nil {
		row.InactivityIdle, row.InactivityWarn = spec.Inactivity.Idle, spec.Inactivity.WarnBefore
	}
	if spec.Rollback != nil {
		row.RollbackGrace = spec.Rollback.Grace
		if row.RollbackGrace == 0 {
			row.RollbackGrace = -1 // stored: none kept (0 is the server's default)
		}
	}
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		existing, err := tx.Version(ctx, spec.Name, spec.Version)
		switch {
		case err == nil:
			t, err := tx.Template(ctx, spec.Name)
			if err != nil {
				return err
			}
			if err := checkMember(actor, spec.Name, t.OwnerTeam, "publish versions of it"); err != nil {
				return err
			}
			if existing.Digest != digest {
				return Errorf(EConflict, "%s@%s is already published with other content (%s); publish a new version instead",
					spec.Name, spec.Version, ShortDigest(existing.Digest))
			}
			row = existing
			return nil
		case !errors.Is(err, storage.ErrNotFound):
			return err
		}
		_, err = tx.Template(ctx, spec.Name)
		first := errors.Is(err, storage.ErrNotFound)
		if err != nil && !first {
			return err
		}
		if err := tx.SaveTemplate(ctx, &storage.Template{Name: spec.Name, Kind: string(spec.Kind),
			Description: spec.Description, Owner: spec.Owner, OwnerTeam: spec.Owner, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		// Read after the save: on PostgreSQL the row is now locked, so this
		// is the owning team as committed, also by a first publish of the
		// name that raced this one (whose team then decides).
		t, err := tx.Template(ctx, spec.Name)
		if err != nil {
			return err
		}
		if err := checkOwner(actor, t.OwnerTeam, spec, first && t.OwnerTeam == spec.Owner); err != nil {
			return err
		}
		if t.OwnerTeam != spec.Owner { // an administrator hands it over
			if err := tx.SetTemplateOwnerTeam(ctx, spec.Name, spec.Owner, now); err != nil {
				return err
			}
		}
		if err := tx.CreateVersion(ctx, row); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return Errorf(EConflict, "%s@%s was published concurrently", spec.Name, spec.Version)
			}
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return Version{}, false, err
	}
	v, err = versionFromRow(row)
	return v, created, err
}

func (s *Service) providerNames() []string {
	names := make([]string, 0, len(s.providers))
	for n := range s.providers {
		names = append(names, n)
	}
	return names
}

// Catalog lists every template with its versions, newest first.
func (s *Service) Catalog(ctx context.Context) ([]Template, error) {
	rows, err := s.store.Templates(ctx)
	if err != nil {
		return nil, err
	}
	versions, err := s.store.Versions(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string][]Version{}
	for i := range versions {
		v, err := versionFromRow(&versions[i])
		if err != nil {
			return nil, fmt.Errorf("envs: version %s@%s: %w", versions[i].TemplateName, versions[i].Version, err)
		}
		byName[v.Spec.Name] = append(byName[v.Spec.Name], v)
	}
	out := make([]Template, 0, len(rows))
	for _, r := range rows {
		out = append(out, Template{Name: r.Name, Kind: Kind(r.Kind), Description: r.Description,
			Owner: r.Owner, OwnerTeam: r.OwnerTeam, Versions: byName[r.Name]})
	}
	if err := s.countLive(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// TemplateNames lists the catalog's template names, in order: what a
// filter offers, without reading versions or counting environments.
func (s *Service) TemplateNames(ctx context.Context) ([]string, error) {
	rows, err := s.store.Templates(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = r.Name
	}
	return names, nil
}

// Template returns one catalog entry.
func (s *Service) Template(ctx context.Context, name string) (Template, error) {
	r, err := s.store.Template(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		return Template{}, Errorf(ENotFound, "template %q does not exist", name)
	}
	if err != nil {
		return Template{}, err
	}
	rows, err := s.store.Versions(ctx, name)
	if err != nil {
		return Template{}, err
	}
	t := Template{Name: r.Name, Kind: Kind(r.Kind), Description: r.Description, Owner: r.Owner, OwnerTeam: r.OwnerTeam}
	for i := range rows {
		v, err := versionFromRow(&rows[i])
		if err != nil {
			return Template{}, err
		}
		t.Versions = append(t.Versions, v)
	}
	ts := []Template{t}
	if err := s.countLive(ctx, ts); err != nil {
		return Template{}, err
	}
	return ts[0], nil
}

// maxDeprecationNote bounds the note people read beside a deprecated
// version.
const maxDeprecationNote = 2000

// Deprecate marks a version deprecated: it stays visible and its
// environments keep running, but it can no longer be launched. See
// DeprecateVersion for a deprecation with a date.
func (s *Service) Deprecate(ctx context.Context, actor Actor, template, version, note string) error {
	return s.DeprecateVersion(ctx, actor, DeprecateRequest{Template: template, Version: version, Note: note})
}
