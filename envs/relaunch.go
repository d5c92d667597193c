package envs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// Relaunch ("launch again") builds a new environment like an earlier one,
// destroyed or live: the same template version and parameters, with what
// the person relaunching changes. Everything else is as at launch: the same
// checks (planLaunch), the relauncher owns the new environment, and its
// secrets are re-used only for the owner of the source.

// RelaunchRequest asks to launch an environment again.
type RelaunchRequest struct {
	Source string // the id of the environment to launch again
	// Version is "" for the source's version.
	Version string
	// Name is "" for the source's name once the source is no longer live
	// (another is drawn if it is taken meanwhile), or a drawn one while it
	// is.
	Name string
	TTL  string // "" for the version's default
	// Params override the source's values. An empty value of a secret
	// parameter is no value: the source's is re-used (for its owner).
	Params map[string]any
	// SameSnapshot restores the snapshot the source restored rather than
	// the latest (replica and dr kinds).
	SameSnapshot bool
}

// RelaunchDraft is what a relaunch starts from, for the form that lets
// people change it before launching.
type RelaunchDraft struct {
	Source *Environment
	// Template is the source's catalog entry; Version the one relaunched.
	Template Template
	Version  Version
	// Name is the name a relaunch takes when none is given ("" while the
	// source is live: one is drawn).
	Name string
	// Params are the non-secret values the relaunch starts from: the
	// source's, for the parameters the version has.
	Params map[string]string
	// ReusedSecrets are the secret parameters whose values the source had
	// and the actor may re-use by leaving them empty; RetypeSecrets are
	// those the actor must type again (they do not own the source).
	ReusedSecrets []string
	RetypeSecrets []string
	// Snapshot is the snapshot the source restored, offered to restore
	// again ("" when not offered: the kind restores no snapshot, none was
	// recorded, or the provider cannot restore a given one).
	Snapshot string
}

// Relaunch records a pending environment built like the source, with its
// provision job and the source's "Relaunched as" event, in one
// transaction.
func (s *Service) Relaunch(ctx context.Context, actor Actor, req RelaunchRequest) (env *Environment, err error) {
	defer func() {
		if env == nil { // a relaunch that succeeds is audited in its transaction
			s.audit(ctx, actor, "environment.relaunch", req.Source, err)
		}
	}()
	if err := Authorize(actor, PermLaunch); err != nil {
		return nil, err
	}
	srcRow, src, err := s.relaunchSource(ctx, req.Source)
	if err != nil {
		return nil, err
	}
	_, version, err := s.relaunchVersion(ctx, src, req.Version)
	if err != nil {
		return nil, err
	}
	spec := version.Spec
	if err := CanLaunchTemplate(actor, spec); err != nil {
		return nil, err
	}
	params, fields, err := s.relaunchParams(actor, srcRow, src, spec, req.Params)
	if err != nil {
		return nil, err
	}
	var pin string
	if req.SameSnapshot {
		var fe *FieldError
		if pin, fe = s.sameSnapshot(ctx, src, spec); fe != nil {
			fields = append(fields, *fe)
		}
	}
	name := req.Name
	if name == "" && !src.Status.Live() {
		name = src.Name
	}
	plan, err := s.planLaunch(ctx, version, name, req.TTL, params, fields)
	if err != nil {
		return nil, err
	}
	plan.redraw = plan.redraw || req.Name == ""
	if pin != "" {
		if err := s.pinValues(&plan, pin); err != nil {
			return nil, err
		}
	}
	row, err := s.newEnvironmentRow(actor, plan)
	if err != nil {
		return nil, err
	}
	row.RelaunchedFrom, row.PinnedSnapshot = src.ID, pin
	err = s.insertLaunch(ctx, row, plan.redraw, nil, func(tx *storage.Tx) error {
		if err := s.enforceQuota(ctx, tx, changeOfRow(row, 1)); err != nil {
			return err
		}
		if err := s.recordActivityRow(ctx, tx, row, spec, ""); err != nil {
			return err
		}
		msg := fmt.Sprintf("Relaunched from %s (%s): %s@%s with a TTL of %s", src.Name, src.ID, spec.Name, spec.Version, FormatDuration(plan.ttl))
		if pin != "" {
			msg += ", restoring the same snapshot " + pin
		}
		if err := s.addEvent(ctx, tx, row.ID, EventStatus, StatusPending, msg, actor.Name); err != nil {
			return err
		}
		if err := s.addEvent(ctx, tx, src.ID, EventAction, "", fmt.Sprintf("Relaunched as %s (%s)", row.Name, row.ID), actor.Name); err != nil {
			return err
		}
		entry := s.auditEntry(actor, "environment.relaunch", row.ID, nil)
		entry.Detail = src.ID
		return tx.Audit(ctx, entry)
	})
	if err != nil {
		return nil, err
	}
	s.hub.notify(row.ID)
	s.hub.notify(src.ID)
	s.log.Info("environment relaunched", "environment", row.ID, "from", src.ID, "name", row.Name, "template", spec.Name,
		"version", spec.Version, "ttl", plan.ttl.String(), "owner", actor.Name, "snapshot", pin)
	return environmentFromRow(row, splitNames(row.SecretNames)), nil
}

// RelaunchDraft is what a relaunch of the source with the given version ("" for
// the source's) starts from, as the actor may launch it.
func (s *Service) RelaunchDraft(ctx context.Context, actor Actor, source, version string) (RelaunchDraft, error) {
	if err := Authorize(actor, PermLaunch); err != nil {
		return RelaunchDraft{}, err
	}
	_, src, err := s.relaunchSource(ctx, source)
	if err != nil {
		return RelaunchDraft{}, err
	}
	tpl, v, err := s.relaunchVersion(ctx, src, version)
	if err != nil {
		return RelaunchDraft{}, err
	}
	if err := CanLaunchTemplate(actor, v.Spec); err != nil {
		return RelaunchDraft{}, err
	}
	d := RelaunchDraft{Source: src, Template: tpl, Version: v, Params: map[string]string{}}
	if !src.Status.Live() {
		d.Name = src.Name
	}
	reuse := sameOwner(actor, src)
	for _, p := range v.Spec.Parameters {
		switch {
		case !p.Secret:
			if val, ok := src.Params[p.Name]; ok {
				d.Params[p.Name] = val
			} else {
				d.Params[p.Name] = p.Default
			}
		case !slices.Contains(src.SecretNames, p.Name):
		case reuse:
			d.ReusedSecrets = append(d.ReusedSecrets, p.Name)
		default:
			d.RetypeSecrets = append(d.RetypeSecrets, p.Name)
		}
	}
	if snap := src.Facts[FactSnapshotName]; snap != "" && restoresSnapshots(v.Spec.Kind) {
		if _, ok := s.providers[v.Spec.Provider].(SnapshotPinner); ok {
			d.Snapshot = snap
		}
	}
	return d, nil
}

// relaunchSource loads the environment to launch again.
func (s *Service) relaunchSource(ctx context.Context, id string) (*storage.Environment, *Environment, error) {
	if msg := textProblem(id); msg != "" {
		return nil, nil, Invalid("relaunch request is not valid", FieldError{Field: "id", Message: msg})
	}
	r, err := s.store.Environment(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, Errorf(ENotFound, "environment %q does not exist", id)
	}
	if err != nil {
		return nil, nil, err
	}
	return r, environmentFromRow(r, splitNames(r.SecretNames)), nil
}

// relaunchVersion is the source's template and the version a relaunch
// builds: the source's, or the one asked for. A version that does not
// exist is refused naming the field (the environment exists; what the
// request names is wrong), and a deprecated one by planLaunch.
func (s *Service) relaunchVersion(ctx context.Context, src *Environment, version string) (Template, Version, error) {
	if version == "" {
		version = src.Version
	}
	tpl, err := s.Template(ctx, src.Template)
	if err != nil {
		return Template{}, Version{}, err
	}
	for _, v := range tpl.Versions {
		if v.Spec.Version == version {
			return tpl, v, nil
		}
	}
	return Template{}, Version{}, Invalid("relaunch request is not valid", FieldError{Field: "version",
		Message: fmt.Sprintf("template %s has no version %q", src.Template, truncate(version, 80))})
}

// relaunchParams are the values a relaunch is checked with: the source's
// non-secret values for the parameters the version still has (new ones
// take their defaults in ValidateParams), its secrets when the actor owns
// it, then the overrides. fields name the secrets the source had that the
// actor must type again: re-using a secret is for its owner only, whatever
// else they may do with the environment.
func (s *Service) relaunchParams(actor Actor, srcRow *storage.Environment, src *Environment, spec Spec, overrides map[string]any) (map[string]any, []FieldError, error) {
	values := map[string]any{}
	secret := map[string]bool{}
	for _, p := range spec.Parameters {
		secret[p.Name] = p.Secret
		if v, ok := src.Params[p.Name]; ok && !p.Secret {
			values[p.Name] = v
		}
	}
	for name, v := range overrides {
		if str, ok := v.(string); ok && str == "" && secret[name] {
			continue // an empty secret is no value (a form's password left empty)
		}
		values[name] = v
	}
	var secrets map[string]string
	if sameOwner(actor, src) && len(src.SecretNames) > 0 {
		var err error
		if secrets, err = s.cipher.open(srcRow.Secrets, srcRow.ID); err != nil {
			return nil, nil, fmt.Errorf("envs: relaunch %s: secrets of the source: %w", src.ID, err)
		}
	}
	var fields []FieldError
	for _, p := range spec.Parameters {
		if _, given := values[p.Name]; given || !p.Secret || !slices.Contains(src.SecretNames, p.Name) {
			continue
		}
		if v, ok := secrets[p.Name]; ok {
			values[p.Name] = v
			continue
		}
		fields = append(fields, FieldError{Field: "params." + p.Name, Message: fmt.Sprintf(
			"is a secret of %s; secrets are re-used only for the environment's owner (%s): type it again", src.Name, valueOr(src.Owner, "nobody"))})
	}
	return values, fields, nil
}

// sameOwner reports whether the actor owns the environment by user id, as
// re-using its secrets needs (CanActOn lets its team act on it too). In
// local mode everyone is the one local user, who owns what was launched
// there: with its user id, or with none before it had a row.
func sameOwner(a Actor, e *Environment) bool {
	if a.UserID != "" && e.OwnerID == a.UserID {
		return true
	}
	return e.OwnerID == "" && (a.Via == "local" || a.Issuer == LocalIssuer)
}

// restoresSnapshots reports whether environments of the kind restore a
// snapshot (and may restore the same one again).
func restoresSnapshots(k Kind) bool { return k == KindReplica || k == KindDR }

// sameSnapshot checks that a relaunch can restore the snapshot its source
// restored and returns it, or the problem with it on same_snapshot.
func (s *Service) sameSnapshot(ctx context.Context, src *Environment, spec Spec) (string, *FieldError) {
	refuse := func(format string, args ...any) (string, *FieldError) {
		return "", &FieldError{Field: "same_snapshot", Message: fmt.Sprintf(format, args...)}
	}
	if !restoresSnapshots(spec.Kind) {
		return refuse("only replica and dr environments restore a snapshot; %s is a %s template", spec.Name, spec.Kind)
	}
	snap := src.Facts[FactSnapshotName]
	if snap == "" {
		return refuse("%s recorded no snapshot (it never restored one): relaunch from the latest instead", src.Name)
	}
	pinner, ok := s.providers[spec.Provider].(SnapshotPinner)
	if !ok {
		return refuse("the %s provider cannot restore a given snapshot", spec.Provider)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := pinner.CheckSnapshot(ctx, spec.Stack, snap)
	var gone *SnapshotGoneError
	var refused *Error
	switch {
	case errors.As(err, &gone):
		return refuse("%s", gone.Error())
	case errors.As(err, &refused):
		return refuse("%s", refused.Error())
	case err != nil:
		// Not a verdict (the cloud cannot be reached): the provider checks
		// again when it provisions, and fails the launch if it is gone.
		s.log.Warn("could not check a pinned snapshot at relaunch", "snapshot", snap, "err", err)
	}
	return snap, nil
}

// pinValues has the provider set the parameter values that restore the
// pinned snapshot (aws: the snapshot parameter), refusing values that
// choose another one.
func (s *Service) pinValues(plan *launchPlan, pin string) error {
	spec := plan.version.Spec
	values := maps.Clone(plan.plain)
	maps.Copy(values, plan.secrets)
	pinned, err := s.providers[spec.Provider].(SnapshotPinner).PinSnapshot(spec.Stack, values, pin)
	var refused *Error
	if errors.As(err, &refused) {
		return Invalid("launch request is not valid", FieldError{Field: "same_snapshot", Message: refused.Error()})
	}
	if err != nil {
		return fmt.Errorf("envs: pin snapshot %s: %w", pin, err)
	}
	plan.plain, plan.secrets = splitSecrets(spec, pinned)
	return nil
}
