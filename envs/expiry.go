package envs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mayflyhq/mayfly/storage"
)

// Expiry warnings: a version says how long before expiry its owners are
// warned (expiry_warnings: [1h, 10m]; absent: DefaultExpiryWarnings; []:
// none). Each warning is a row (environment, deadline, lead), armed when
// the deadline is set (launch, extend) and claimed once by a conditional
// update in the reaper's loop, before the reaper's batch, on every replica:
// one of them sends it. While a warning of an environment is pending, the
// reaper's expiry query passes it over (storage.ExpireDue), so nothing is
// destroyed by the reaper without its warning attempted: an environment
// that reaches its expiry first (a TTL shorter than the lead, a reaper that
// was down) is warned late, then destroyed on the next tick. The warning
// is a timeline event and a notice (notice.go) with signed one-click
// links (links.go).

// DefaultExpiryWarnings are the lead times of a version that names none.
var DefaultExpiryWarnings = []time.Duration{time.Hour, 10 * time.Minute}

// ExpiryWarnings is a version's expiry_warnings: the lead times before
// expiry at which owners are warned, longest first (empty: never).
type ExpiryWarnings struct {
	Leads []time.Duration `json:"leads"`
}

// WarningLeads are the version's lead times, longest first.
func (s *Spec) WarningLeads() []time.Duration {
	if s.ExpiryWarnings == nil {
		return slices.Clone(DefaultExpiryWarnings)
	}
	return slices.Clone(s.ExpiryWarnings.Leads)
}

// expiryWarnings validates expiry_warnings: a list of positive durations,
// each shorter than ttl.max, none twice.
func (v *validator) expiryWarnings(n *yaml.Node, maxTTL time.Duration) *ExpiryWarnings {
	if n.Kind != yaml.SequenceNode {
		v.add("expiry_warnings", "must be a list of durations such as [1h, 10m], or [] for no warnings")
		return nil
	}
	w := &ExpiryWarnings{Leads: []time.Duration{}}
	ok := true
	for i, item := range n.Content {
		field := fmt.Sprintf("expiry_warnings[%d]", i)
		d, err := time.ParseDuration(item.Value)
		switch {
		case item.Kind != yaml.ScalarNode || err != nil || d <= 0:
			v.add(field, fmt.Sprintf("%q is not a positive duration such as 1h or 10m", item.Value))
			ok = false
		case maxTTL > 0 && d >= maxTTL:
			v.add(field, fmt.Sprintf("%s is not shorter than ttl.max %s: no environment lives that long", item.Value, FormatDuration(maxTTL)))
			ok = false
		case slices.Contains(w.Leads, d):
			v.add(field, fmt.Sprintf("%s is given twice", item.Value))
			ok = false
		default:
			w.Leads = append(w.Leads, d)
		}
	}
	if !ok {
		return nil
	}
	slices.Sort(w.Leads)
	slices.Reverse(w.Leads)
	return w
}

// encodeWarnings is a version's expiry_warnings column: "" for the
// defaults, else the JSON array of the leads in nanoseconds.
func encodeWarnings(w *ExpiryWarnings) string {
	if w == nil {
		return ""
	}
	ns := make([]int64, 0, len(w.Leads))
	for _, l := range w.Leads {
		ns = append(ns, int64(l))
	}
	b, _ := json.Marshal(ns) // a slice of integers always marshals
	return string(b)
}

func decodeWarnings(s string) (*ExpiryWarnings, error) {
	if s == "" {
		return nil, nil
	}
	var ns []int64
	if err := json.Unmarshal([]byte(s), &ns); err != nil {
		return nil, fmt.Errorf("envs: expiry warnings %q: %w", s, err)
	}
	w := &ExpiryWarnings{Leads: make([]time.Duration, 0, len(ns))}
	for _, n := range ns {
		w.Leads = append(w.Leads, time.Duration(n))
	}
	return w, nil
}

// warnPolicy is what warning an environment needs of its version: the
// leads, and what a one-click extend adds (ttl.default).
type warnPolicy struct {
	leads     []time.Duration
	extension time.Duration
}

// warnPolicyOf reads a version's warning policy through q (the caller's
// transaction, or the store); versions are immutable, so it is cached.
func (s *Service) warnPolicyOf(ctx context.Context, q storage.Queries, versionID int64) (warnPolicy, error) {
	if p, ok := s.warnPolicies.Load(versionID); ok {
		return p.(warnPolicy), nil
	}
	r, err := q.VersionByID(ctx, versionID)
	if errors.Is(err, storage.ErrNotFound) {
		return warnPolicy{}, nil
	}
	if err != nil {
		return warnPolicy{}, err
	}
	v, err := versionFromRow(r)
	if err != nil {
		return warnPolicy{}, err
	}
	p := warnPolicy{leads: v.Spec.WarningLeads(), extension: v.Spec.TTL.Default}
	s.warnPolicies.Store(versionID, p)
	return p, nil
}

// armWarnings records the warnings of an environment's deadline, in the
// transaction that sets it: each lead still ahead is due at deadline
// minus lead. When every lead is past already (a TTL shorter than the
// shortest lead), the shortest is due now: one late warning, not one per
// lead, and none if it was sent for the previous deadline (rearm: an
// extend, whose pending warnings were for the old deadline and are
// dropped).
func (s *Service) armWarnings(ctx context.Context, tx *storage.Tx, envID string, versionID int64, deadline time.Time, rearm bool) error {
	p, err := s.warnPolicyOf(ctx, tx.Queries, versionID)
	if err != nil || len(p.leads) == 0 {
		return err
	}
	now := s.now()
	deadline = deadline.UTC().Truncate(time.Microsecond)
	sent := map[time.Duration]bool{}
	if rearm {
		if err := tx.DropPendingWarnings(ctx, envID); err != nil {
			return err
		}
		old, err := tx.Warnings(ctx, []string{envID})
		if err != nil {
			return err
		}
		// The previous deadline's (the latest before this one).
		var prev time.Time
		for _, w := range old {
			if w.Deadline.Before(deadline) && w.Deadline.After(prev) {
				prev = w.Deadline
			}
		}
		for _, w := range old {
			if w.Deadline.Equal(prev) && w.Outcome == warningSent {
				sent[w.Lead] = true
			}
		}
	}
	var ws []storage.EnvironmentWarning
	late := time.Duration(-1)
	for _, l := range p.leads { // longest first
		due := deadline.Add(-l)
		switch {
		case due.After(now):
			ws = append(ws, storage.EnvironmentWarning{EnvironmentID: envID, Deadline: deadline, Lead: l, DueAt: due})
		case !sent[l]:
			late = l
		}
	}
	if late >= 0 && len(ws) == 0 {
		ws = append(ws, storage.EnvironmentWarning{EnvironmentID: envID, Deadline: deadline, Lead: late, DueAt: now})
	}
	return tx.ArmWarnings(ctx, ws)
}

// Outcomes of a claimed warning.
const (
	warningSent    = "sent"
	warningDropped = "dropped" // the environment was no longer live, or its deadline moved
)

// warnBatch bounds one query of the warning pass.
const warnBatch = 200

// warnExpiring sends the expiry warnings that are due, each exactly once
// however many replicas run it; the reaper's loop runs it before every
// batch, so an environment whose warning is late is warned first.
func (s *Service) warnExpiring(ctx context.Context) error {
	for range 50 { // bounded: every claimed warning leaves the due set
		now := s.now()
		due, err := s.store.WarningsDue(ctx, now, warnBatch)
		if err != nil {
			return err
		}
		type key struct {
			env      string
			deadline int64
		}
		var order []key
		groups := map[key][]storage.EnvironmentWarning{}
		for _, w := range due {
			k := key{w.EnvironmentID, w.Deadline.UnixMicro()}
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			groups[k] = append(groups[k], w)
		}
		// One warning that fails does not hold back the others; it stays
		// pending, so the next pass tries it again.
		var errs []error
		for _, k := range order {
			if err := s.warnOne(ctx, groups[k], now); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 || len(due) < warnBatch {
			return errors.Join(errs...)
		}
	}
	return nil
}

// warnOne claims the due warnings of one environment's deadline and, when
// it is still live with that deadline, sends one warning for them (the
// shortest lead's: the reaper may have been down through the others).
func (s *Service) warnOne(ctx context.Context, due []storage.EnvironmentWarning, now time.Time) error {
	envID, deadline := due[0].EnvironmentID, due[0].Deadline
	leads := make([]time.Duration, len(due))
	for i, w := range due {
		leads[i] = w.Lead
	}
	sent := false
	err := s.store.InTx(ctx, func(tx *storage.Tx) error {
		r, err := tx.Environment(ctx, envID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		outcome := warningSent
		if r == nil || !extendable(Status(r.Status)) || !r.ExpiresAt.UTC().Truncate(time.Microsecond).Equal(deadline) {
			outcome = warningDropped
		}
		n, err := tx.ClaimWarnings(ctx, envID, deadline, leads, outcome, now)
		if err != nil || n == 0 || outcome == warningDropped {
			return err
		}
		e := environmentFromRow(r, nil)
		left := InWords(e.ExpiresAt.Sub(now))
		msg := fmt.Sprintf("Expires in %s, at %s: extend it to keep it, or it is destroyed then", left, e.ExpiresAt.Format(time.RFC3339))
		subject := fmt.Sprintf("Environment %s expires in %s", e.Name, left)
		var links []NoticeLink
		if e.ExpiresAt.After(now) {
			p, err := s.warnPolicyOf(ctx, tx.Queries, r.VersionID)
			if err != nil {
				// The warning goes out all the same: it must not hold the
				// reaper back. Without the version, no extend link.
				s.log.Warn("expiry warning: version policy", "environment", envID, "err", err)
			}
			if links, err = s.createLinks(ctx, tx, e, p, now); err != nil {
				return err
			}
		} else {
			// Late (the reaper was down): there is no time left to act in.
			msg = fmt.Sprintf("Expired at %s: destroyed now (this warning comes late)", e.ExpiresAt.Format(time.RFC3339))
			subject = fmt.Sprintf("Environment %s expired: destroyed now", e.Name)
		}
		if err := s.addEvent(ctx, tx, envID, EventAction, "", msg, "reaper"); err != nil {
			return err
		}
		if err := s.notice(ctx, tx, Notice{Event: NoticeExpiringSoon, EnvironmentID: envID, UserID: r.OwnerID, Team: r.Team,
			Subject: subject, Text: msg, Links: links, At: now}); err != nil {
			return err
		}
		sent = true
		return nil
	})
	if err != nil || !sent {
		return err
	}
	s.hub.notify(envID)
	s.log.Info("environment expires soon", "environment", envID, "expires_at", deadline)
	return nil
}

// extendable are the statuses in which an environment can be extended,
// and so is warned.
func extendable(st Status) bool {
	return st == StatusPending || st == StatusProvisioning || st == StatusReady
}

// InWords is a time left as a warning says it: "42 min", "1h5m", "less
// than a minute".
func InWords(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Round(time.Minute)/time.Minute))
	}
	return FormatDuration(d.Round(time.Minute))
}

// ExpiryState is what an environment's expiry warnings say of it.
type ExpiryState struct {
	// Leads are its version's lead times, longest first (none: it is
	// never warned).
	Leads []time.Duration
	// Soon: it is live and expires within its first (longest) lead.
	Soon bool
	// WarnedAt is when it was last warned for its current expiry (nil:
	// not yet).
	WarnedAt *time.Time
	// Extension is what a one-click extend adds: ttl.default, within the
	// maximum lifetime (0: it cannot be extended).
	Extension time.Duration
}

// attachExpiry fills the Expiry of the live environments of a list (one
// query for their warnings; versions' policies are cached).
func (s *Service) attachExpiry(ctx context.Context, list []*Environment) error {
	var ids []string
	for _, e := range list {
		if extendable(e.Status) {
			ids = append(ids, e.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := s.store.Warnings(ctx, ids)
	if err != nil {
		return err
	}
	warned := map[string]time.Time{}
	for _, w := range rows {
		if w.Outcome == warningSent && w.WarnedAt != nil && w.WarnedAt.After(warned[w.EnvironmentID+w.Deadline.UTC().String()]) {
			warned[w.EnvironmentID+w.Deadline.UTC().String()] = w.WarnedAt.UTC()
		}
	}
	now := s.now()
	for _, e := range list {
		if !extendable(e.Status) {
			continue
		}
		p, err := s.warnPolicyOf(ctx, s.store.Queries, e.VersionID)
		if err != nil {
			return err
		}
		st := ExpiryState{Leads: p.leads, Extension: min(p.extension, e.ExtendableBy())}
		if len(p.leads) > 0 && !now.Before(e.ExpiresAt.Add(-p.leads[0])) {
			st.Soon = true
		}
		if at, ok := warned[e.ID+e.ExpiresAt.UTC().Truncate(time.Microsecond).String()]; ok {
			st.WarnedAt = &at
			st.Soon = true
		}
		e.Expiry = st
	}
	return nil
}
