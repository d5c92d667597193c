package envs

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// Launching: a request checked against its version, planned and recorded
// as a pending environment with its provisioning job.

// LaunchRequest asks for a new environment.
type LaunchRequest struct {
	Template string
	Version  string // "" for the latest non-deprecated version
	Name     string // "" to generate one from the template's name
	Params   map[string]any
	TTL      string // "" for the version's default
	// Labels are key=value pairs the environment carries (see labels.go).
	Labels map[string]string

	// approval is the approved request this launch carries out: it is not
	// held to the quotas (see approval.go).
	approval string
}

var envNameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// MinTTL is the shortest lifetime accepted (tests and demos use seconds).
const MinTTL = time.Second

// Launch validates a request and records a pending environment together with
// its provision job, in one transaction. Its expiry is the reaper's (see
// reaper.go).
func (s *Service) Launch(ctx context.Context, actor Actor, req LaunchRequest) (env *Environment, err error) {
	defer func() {
		if env != nil {
			return // audited in the launch's transaction
		}
		s.audit(ctx, actor, "environment.launch", req.Template, err)
	}()
	return s.launch(ctx, actor, req, nil)
}

// launch is Launch without its audit of a failure; claim, when set, runs
// first in the launch's transaction (see LaunchOnce).
func (s *Service) launch(ctx context.Context, actor Actor, req LaunchRequest, claim func(tx *storage.Tx, envID string) error) (env *Environment, err error) {
	spec, plan, row, err := s.prepareLaunch(ctx, actor, req)
	if err != nil {
		return nil, err
	}
	err = s.insertLaunch(ctx, row, plan.redraw, claim, func(tx *storage.Tx) error {
		if req.approval == "" {
			if err := s.enforceQuota(ctx, tx, changeOfRow(row, 1)); err != nil {
				return err
			}
		}
		if err := s.recordActivityRow(ctx, tx, row, spec, ""); err != nil {
			return err
		}
		msg := fmt.Sprintf("Launched %s@%s with a TTL of %s", spec.Name, spec.Version, FormatDuration(plan.ttl))
		if req.approval != "" {
			msg += fmt.Sprintf(" (past a quota, approval %s)", req.approval)
		}
		if err := s.addEvent(ctx, tx, row.ID, EventStatus, StatusPending, msg, actor.Name); err != nil {
			return err
		}
		// The audit entry of a launch that succeeds is written here rather
		// than after the commit: one commit fewer on SQLite's one
		// connection per launch (a failed launch is audited by Launch).
		return tx.Audit(ctx, s.auditEntry(actor, "environment.launch", row.ID, nil))
	})
	if err != nil {
		return nil, err
	}
	s.hub.notify(row.ID)
	s.log.Info("environment launched", "environment", row.ID, "name", row.Name, "template", spec.Name, "version", spec.Version, "ttl", plan.ttl.String(), "owner", actor.Name)
	return environmentFromRow(row, splitNames(row.SecretNames)), nil
}

// prepareLaunch checks a launch request as the actor may make it and
// builds the pending environment it would record (not stored yet).
func (s *Service) prepareLaunch(ctx context.Context, actor Actor, req LaunchRequest) (Spec, launchPlan, *storage.Environment, error) {
	fail := func(err error) (Spec, launchPlan, *storage.Environment, error) { return Spec{}, launchPlan{}, nil, err }
	if err := Authorize(actor, PermLaunch); err != nil {
		return fail(err)
	}
	if req.Template == "" {
		return fail(Invalid("launch request is not valid", FieldError{Field: "template", Message: "is required"}))
	}
	tpl, err := s.Template(ctx, req.Template)
	if err != nil {
		return fail(err)
	}
	var version Version
	if req.Version == "" {
		v, ok := tpl.Latest()
		if !ok || v.DeprecatedAt != nil {
			return fail(Invalid("launch request is not valid", FieldError{Field: "version", Message: "the template has no version that can be launched"}))
		}
		version = v
	} else {
		found := false
		for _, v := range tpl.Versions {
			if v.Spec.Version == req.Version {
				version, found = v, true
			}
		}
		if !found {
			return fail(Errorf(ENotFound, "template %s has no version %s", req.Template, req.Version))
		}
	}
	spec := version.Spec
	if err := CanLaunchTemplate(actor, spec); err != nil {
		return fail(err)
	}
	// Problems with the labels are reported with the launch's others.
	plan, err := s.planLaunch(ctx, version, req.Name, req.TTL, req.Params, ValidateLabels(req.Labels))
	if err != nil {
		return fail(err)
	}
	row, err := s.newEnvironmentRow(actor, plan)
	if err != nil {
		return fail(err)
	}
	row.Labels = encodeMap(req.Labels)
	return spec, plan, row, nil
}

// launchPlan is a launch (or a relaunch) checked against its version: what
// the new environment is made of.
type launchPlan struct {
	version Version
	name    string
	// redraw says the name was not asked for: when it is taken, another is
	// drawn rather than the launch refused.
	redraw  bool
	ttl     time.Duration
	plain   map[string]string // the non-secret values
	secrets map[string]string
}

// planLaunch checks a launch against its version, as every launch is
// checked: the version's state, the name ("" draws one), the TTL ("" for
// the version's default) within its policy, the parameters (ValidateParams,
// then the provider's choices) and the provider. fields are problems the
// caller found already (a relaunch's secrets to type again), reported with
// these; a field among them is not reported twice.
func (s *Service) planLaunch(ctx context.Context, version Version, name, ttlText string, params map[string]any, found []FieldError) (launchPlan, error) {
	spec := version.Spec
	fields := append([]FieldError(nil), found...)
	if version.DeprecatedAt != nil {
		fields = append(fields, FieldError{Field: "version", Message: fmt.Sprintf("%s is deprecated and cannot be launched", spec.Version)})
	}
	plan := launchPlan{version: version, name: strings.TrimSpace(name), ttl: spec.TTL.Default}
	if plan.name == "" {
		plan.name, plan.redraw = GeneratedName(spec.Name), true
	}
	if !envNameRe.MatchString(plan.name) {
		fields = append(fields, FieldError{Field: "name", Message: "must be 1-63 lowercase letters, digits or dashes, starting and ending with a letter or digit"})
	}
	if ttlText != "" {
		d, err := time.ParseDuration(ttlText)
		switch {
		case err != nil:
			fields = append(fields, FieldError{Field: "ttl", Message: fmt.Sprintf("%q is not a duration such as 90m or 2h", ttlText)})
		case d < MinTTL:
			fields = append(fields, FieldError{Field: "ttl", Message: fmt.Sprintf("must be at least %s", MinTTL)})
		case d > spec.TTL.Max:
			fields = append(fields, FieldError{Field: "ttl", Message: fmt.Sprintf("%s is longer than this template's maximum of %s", ttlText, FormatDuration(spec.TTL.Max))})
		default:
			plan.ttl = d
		}
	}
	values, perrs := ValidateParams(spec.Parameters, params)
	for _, fe := range perrs {
		if !slices.ContainsFunc(found, func(f FieldError) bool { return f.Field == fe.Field }) {
			fields = append(fields, fe)
		}
	}
	if len(perrs) == 0 && len(found) == 0 {
		fields = append(fields, s.checkChoices(ctx, spec, values)...)
	}
	if len(fields) > 0 {
		return launchPlan{}, Invalid("launch request is not valid", fields...)
	}
	if !s.providerOn(spec.Provider) {
		return launchPlan{}, Invalid("launch request is not valid", FieldError{Field: "template",
			Message: fmt.Sprintf("%s@%s cannot be launched: %s", spec.Name, spec.Version, s.providerUnavailable(spec.Provider))})
	}
	plan.plain, plan.secrets = splitSecrets(spec, values)
	return plan, nil
}

// splitSecrets divides parameter values into the plain and the secret ones.
func splitSecrets(spec Spec, values map[string]string) (plain, secrets map[string]string) {
	plain, secrets = map[string]string{}, map[string]string{}
	for _, p := range spec.Parameters {
		v, ok := values[p.Name]
		if !ok {
			continue
		}
		if p.Secret {
			secrets[p.Name] = v
		} else {
			plain[p.Name] = v
		}
	}
	return plain, secrets
}

// newEnvironmentRow is the pending environment of a plan, owned by the
// actor, its secrets sealed to its new id.
func (s *Service) newEnvironmentRow(actor Actor, plan launchPlan) (*storage.Environment, error) {
	spec := plan.version.Spec
	id := "env-" + strings.ToLower(randomID(10))
	sealed, err := s.cipher.seal(plan.secrets, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	return &storage.Environment{
		ID: id, Name: plan.name, Owner: actor.Name, OwnerID: actor.UserID, Team: actor.Team,
		TemplateName: spec.Name, Version: spec.Version, VersionID: plan.version.ID,
		Kind: string(spec.Kind), Provider: spec.Provider,
		Params: encodeMap(plan.plain), Secrets: sealed, SecretNames: strings.Join(slices.Sorted(maps.Keys(plan.secrets)), ","),
		Status: string(StatusPending), Outputs: "{}", Facts: "{}",
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(plan.ttl), MaxExpiresAt: now.Add(spec.TTL.Max),
		HourlyCostMicros: int64(spec.Cost.Rate(plan.plain)),
	}, nil
}

// GeneratedName is a template's name with a random suffix: the name of an
// environment launched without one, and the launch form's default.
func GeneratedName(template string) string {
	return template + "-" + strings.ToLower(randomID(6))
}

// insertLaunch records a pending environment with its provision job, in
// one transaction; record writes its first event and its audit entry in
// the same transaction. A name that is live already is refused, unless
// redraw says it was not asked for: then another is drawn (the user asked
// for no particular name, so a conflict is not theirs).
func (s *Service) insertLaunch(ctx context.Context, row *storage.Environment, redraw bool, claim func(tx *storage.Tx, envID string) error, record func(tx *storage.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := s.store.InTx(ctx, func(tx *storage.Tx) error {
			// First, so that a concurrent launch with the same key waits
			// for this one here (PostgreSQL) before anything else conflicts.
			if claim != nil {
				if err := claim(tx, row.ID); err != nil {
					return err
				}
			}
			if err := tx.CreateEnvironment(ctx, row); err != nil {
				if errors.Is(err, storage.ErrConflict) {
					return &Error{Code: EConflict, Message: fmt.Sprintf("an environment named %q is already live", row.Name),
						Fields: []FieldError{{Field: "name", Message: "is already used by a live environment"}}}
				}
				return err
			}
			if err := record(tx); err != nil {
				return err
			}
			if err := s.armWarnings(ctx, tx, row.ID, row.VersionID, row.ExpiresAt, false); err != nil {
				return err
			}
			return s.jobs.InsertTx(ctx, tx, provisionArgs{EnvironmentID: row.ID}, s.attemptOpts(s.cfg.ProvisionAttempts))
		})
		if !redraw || ErrorCode(err) != EConflict || attempt == 4 {
			return err
		}
		row.Name = GeneratedName(row.TemplateName)
	}
}

func splitNames(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)[:n]
}
