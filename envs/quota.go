package envs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// Quotas limit what one user, or one team, keeps running: how many live
// environments, and what they are projected to cost over the next 30 days
// (each live environment's hourly rate until its expiry, at most 30 days
// ahead). A launch (or relaunch) that would pass a limit, an extend or a
// replace that would raise the cost past one, is refused in the very
// transaction that would record it, after taking the quota's lock, so
// two at once cannot both pass. A refused request may ask for an
// administrator's approval (approval.go).

// Quota scopes, and the name of a scope's default.
const (
	QuotaUser    = "user"
	QuotaTeam    = "team"
	QuotaDefault = "*"
)

// QuotaWindow is how far ahead the cost limit looks: a month.
const QuotaWindow = 30 * 24 * time.Hour

// EQuota: a request would pass a quota. Its message names the limit and
// how to free room.
const EQuota Code = "quota_exceeded"

// Quota is one limit row: a user (by name) or a team, or a scope's
// default ("*"). A row of a name replaces the scope's default for it
// entirely, so a row with no limits lifts the default for that name.
type Quota struct {
	Scope      string     `json:"scope"`
	Name       string     `json:"name"`
	MaxLive    *int       `json:"max_live"`
	MaxMonthly *Money     `json:"-"`
	UpdatedBy  string     `json:"updated_by,omitempty"`
	UpdatedAt  *time.Time `json:"updated_at,omitempty"`
}

// QuotaRefusal is a limit a request would pass.
type QuotaRefusal struct {
	Scope string // QuotaUser or QuotaTeam
	Name  string // the user's or the team's name
	Kind  string // "live" or "cost"
	Text  string // the message: the limit and how to free room
}

func (r *QuotaRefusal) err() error { return &Error{Code: EQuota, Message: r.Text} }

// quotaChange is what a request does to its owner's and team's usage:
// environment id's contribution becomes one with rate until expires;
// addLive is 1 for a new environment.
type quotaChange struct {
	ownerID, owner, team string
	envID                string
	addLive              int
	rate                 Money
	expires              time.Time
}

func changeOfRow(r *storage.Environment, addLive int) quotaChange {
	return quotaChange{ownerID: r.OwnerID, owner: r.Owner, team: r.Team, envID: r.ID, addLive: addLive,
		rate: Money(r.HourlyCostMicros), expires: r.ExpiresAt}
}

// projected is a rate's cost until expires, at most QuotaWindow ahead.
func projected(rate Money, now, expires time.Time) Money {
	return rate.Over(min(expires.Sub(now), QuotaWindow))
}

// enforceQuota refuses c with EQuota when it passes a limit.
func (s *Service) enforceQuota(ctx context.Context, tx *storage.Tx, c quotaChange) error {
	r, err := s.checkQuota(ctx, tx, c)
	if err != nil {
		return err
	}
	if r != nil {
		return r.err()
	}
	return nil
}

// checkQuota is the limit c would pass, or nil. The user's limit is
// looked at first, then the team's.
func (s *Service) checkQuota(ctx context.Context, tx *storage.Tx, c quotaChange) (*QuotaRefusal, error) {
	userQ, err := effectiveQuota(ctx, tx, QuotaUser, c.owner)
	if err != nil {
		return nil, err
	}
	var teamQ *Quota
	if c.team != "" {
		if teamQ, err = effectiveQuota(ctx, tx, QuotaTeam, c.team); err != nil {
			return nil, err
		}
	}
	if userQ == nil && teamQ == nil {
		return nil, nil // no limits: nothing to count, nothing to lock
	}
	now := s.now()
	live := statusStrings(StatusPending, StatusProvisioning, StatusReady)
	check := func(q *Quota, scope, name string, f storage.CostFilter) (*QuotaRefusal, error) {
		if q == nil {
			return nil, nil
		}
		// The same key for a user's checks however the user is found.
		if err := tx.LockQuota(ctx, scope, name); err != nil {
			return nil, err
		}
		f.Statuses = live
		rows, err := tx.CostRows(ctx, f)
		if err != nil {
			return nil, err
		}
		count, before := 0, Money(0)
		for _, r := range rows {
			if r.ID == c.envID {
				continue
			}
			count++
			before += projected(Money(r.HourlyCostMicros), now, r.ExpiresAt)
		}
		was := Money(0)
		for _, r := range rows {
			if r.ID == c.envID && c.addLive == 0 {
				was = projected(Money(r.HourlyCostMicros), now, r.ExpiresAt)
			}
		}
		after := before + projected(c.rate, now, c.expires)
		who := "user " + name
		if scope == QuotaTeam {
			who = "team " + name
		}
		if c.addLive > 0 && q.MaxLive != nil && count+c.addLive > *q.MaxLive {
			return &QuotaRefusal{Scope: scope, Name: name, Kind: "live", Text: fmt.Sprintf(
				"%s has %d of %d live environments; destroy one or ask an admin to approve", who, count, *q.MaxLive)}, nil
		}
		if q.MaxMonthly != nil && after > before+was && after > *q.MaxMonthly {
			return &QuotaRefusal{Scope: scope, Name: name, Kind: "cost", Text: fmt.Sprintf(
				"%s's live environments would cost %s over the next 30 days, over the limit of %s a month (%s before this); destroy or shorten one, or ask an admin to approve",
				who, after, *q.MaxMonthly, before+was)}, nil
		}
		return nil, nil
	}
	if r, err := check(userQ, QuotaUser, c.owner, storage.CostFilter{OwnerID: c.ownerID, Owner: c.owner}); r != nil || err != nil {
		return r, err
	}
	return check(teamQ, QuotaTeam, c.team, storage.CostFilter{Team: c.team})
}

// effectiveQuota is the limit of a name: its own row, else the scope's
// default, else nil.
func effectiveQuota(ctx context.Context, tx *storage.Tx, scope, name string) (*Quota, error) {
	rows, err := tx.QuotasFor(ctx, scope, name, QuotaDefault)
	if err != nil {
		return nil, err
	}
	var def *Quota
	for _, r := range rows {
		q := quotaFromRow(r)
		if r.Name == name {
			return &q, nil
		}
		def = &q
	}
	return def, nil
}

func quotaFromRow(r storage.Quota) Quota {
	q := Quota{Scope: r.Scope, Name: r.Name, MaxLive: r.MaxLive, UpdatedBy: r.UpdatedBy}
	if r.MaxMonthlyMicros != nil {
		m := Money(*r.MaxMonthlyMicros)
		q.MaxMonthly = &m
	}
	if !r.UpdatedAt.IsZero() {
		t := r.UpdatedAt.UTC()
		q.UpdatedAt = &t
	}
	return q
}

// Quotas lists every limit (administrators only).
func (s *Service) Quotas(ctx context.Context, actor Actor) ([]Quota, error) {
	if err := Authorize(actor, PermAdmin); err != nil {
		return nil, err
	}
	rows, err := s.store.Quotas(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Quota, len(rows))
	for i, r := range rows {
		out[i] = quotaFromRow(r)
	}
	return out, nil
}

// SetQuota creates or replaces a limit (administrators only; audited as
// quota.set).
func (s *Service) SetQuota(ctx context.Context, actor Actor, q Quota) (err error) {
	target := q.Scope + ":" + q.Name
	defer func() { s.audit(ctx, actor, "quota.set", target, err) }()
	if err := Authorize(actor, PermAdmin); err != nil {
		return err
	}
	if err := validQuota(q); err != nil {
		return err
	}
	row := &storage.Quota{Scope: q.Scope, Name: strings.TrimSpace(q.Name), MaxLive: q.MaxLive, UpdatedBy: actor.Name, UpdatedAt: s.now()}
	if q.MaxMonthly != nil {
		m := int64(*q.MaxMonthly)
		row.MaxMonthlyMicros = &m
	}
	return s.store.SaveQuota(ctx, row)
}

// DeleteQuota removes a limit (administrators only; audited as
// quota.delete).
func (s *Service) DeleteQuota(ctx context.Context, actor Actor, scope, name string) (err error) {
	defer func() { s.audit(ctx, actor, "quota.delete", scope+":"+name, err) }()
	if err := Authorize(actor, PermAdmin); err != nil {
		return err
	}
	err = s.store.DeleteQuota(ctx, scope, name)
	if errors.Is(err, storage.ErrNotFound) {
		return Errorf(ENotFound, "there is no %s quota for %q", scope, name)
	}
	return err
}

func validQuota(q Quota) error {
	var fields []FieldError
	if q.Scope != QuotaUser && q.Scope != QuotaTeam {
		fields = append(fields, FieldError{Field: "scope", Message: fmt.Sprintf("%q is not user or team", q.Scope)})
	}
	if n := strings.TrimSpace(q.Name); n == "" || len(n) > 255 || strings.ContainsAny(n, "\r\n\t") {
		fields = append(fields, FieldError{Field: "name", Message: `must be a user's name, a team or "*" for every one (one line, at most 255 bytes)`})
	}
	if q.MaxLive != nil && (*q.MaxLive < 0 || *q.MaxLive > 100_000) {
		fields = append(fields, FieldError{Field: "max_live", Message: "must be between 0 and 100000, or empty for no limit"})
	}
	if q.MaxMonthly != nil && (*q.MaxMonthly < 0 || *q.MaxMonthly > MaxHourlyCost.Over(QuotaWindow)) {
		fields = append(fields, FieldError{Field: "max_monthly", Message: "must be an amount in dollars from 0, or empty for no limit"})
	}
	if len(fields) > 0 {
		return Invalid("quota is not valid", fields...)
	}
	return nil
}
