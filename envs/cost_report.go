package envs

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// Cost figures, from each environment's hourly rate as launched:
//
//   - accrued: the rate from its launch until it was destroyed (until now
//     while its stack exists);
//   - projected: the rate from now until its expiry, while it is live;
//   - saved (by the reaper and the inactivity policy): the rate from the
//     moment the policy asked for its destroy until the latest expiry its
//     template allowed (created + ttl.max), which it could have been
//     extended to.

// AccruedCost is what e has cost until now (or until it was destroyed).
func (e *Environment) AccruedCost(now time.Time) Money {
	return accrued(e.HourlyCost, e.CreatedAt, e.DestroyedAt, now)
}

// ProjectedCost is what e will cost from now until its expiry, while it
// is live.
func (e *Environment) ProjectedCost(now time.Time) Money {
	if !e.Status.Live() {
		return 0
	}
	return e.HourlyCost.Over(e.ExpiresAt.Sub(now))
}

func accrued(rate Money, created time.Time, destroyed *time.Time, now time.Time) Money {
	end := now
	if destroyed != nil && destroyed.Before(now) {
		end = *destroyed
	}
	return rate.Over(end.Sub(created))
}

// CostLine is the cost of a group of environments (one team's, one
// user's, one template's).
type CostLine struct {
	Key       string
	Live      int
	Count     int
	Accrued   Money
	Projected Money
}

// CostReport is the cost of every environment with an estimate, by team,
// by user and by template.
type CostReport struct {
	At         time.Time
	Total      CostLine
	ByTeam     []CostLine
	ByUser     []CostLine
	ByTemplate []CostLine
}

// Line finds a group's line ("" key: the total).
func (r CostReport) Line(lines []CostLine, key string) CostLine {
	for _, l := range lines {
		if l.Key == key {
			return l
		}
	}
	return CostLine{Key: key}
}

// CostReport sums accrued and projected cost over every priced
// environment (destroyed ones too), by team, user and template, biggest
// first.
func (s *Service) CostReport(ctx context.Context) (CostReport, error) {
	return s.costReport(ctx, storage.CostFilter{Priced: true})
}

// TemplateCost is what one template's priced environments cost: the
// report's line for it, from its rows only.
func (s *Service) TemplateCost(ctx context.Context, template string) (CostLine, error) {
	rep, err := s.costReport(ctx, storage.CostFilter{Priced: true, TemplateName: template})
	if err != nil {
		return CostLine{}, err
	}
	return rep.Line(rep.ByTemplate, template), nil
}

func (s *Service) costReport(ctx context.Context, f storage.CostFilter) (CostReport, error) {
	rows, err := s.store.CostRows(ctx, f)
	if err != nil {
		return CostReport{}, err
	}
	now := s.now()
	rep := CostReport{At: now, Total: CostLine{Key: ""}}
	team, user, tpl := map[string]*CostLine{}, map[string]*CostLine{}, map[string]*CostLine{}
	add := func(m map[string]*CostLine, key string, live bool, acc, proj Money) {
		l := m[key]
		if l == nil {
			l = &CostLine{Key: key}
			m[key] = l
		}
		l.Count++
		if live {
			l.Live++
		}
		l.Accrued += acc
		l.Projected += proj
	}
	for _, r := range rows {
		rate := Money(r.HourlyCostMicros)
		live := Status(r.Status).Live()
		acc := accrued(rate, r.CreatedAt, r.DestroyedAt, now)
		var proj Money
		if live {
			proj = rate.Over(r.ExpiresAt.Sub(now))
		}
		rep.Total.Count++
		if live {
			rep.Total.Live++
		}
		rep.Total.Accrued += acc
		rep.Total.Projected += proj
		add(team, valueOr(r.Team, "(none)"), live, acc, proj)
		add(user, r.Owner, live, acc, proj)
		add(tpl, r.TemplateName, live, acc, proj)
	}
	rep.ByTeam, rep.ByUser, rep.ByTemplate = sortedLines(team), sortedLines(user), sortedLines(tpl)
	return rep, nil
}

func sortedLines(m map[string]*CostLine) []CostLine {
	out := make([]CostLine, 0, len(m))
	for _, l := range m {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b CostLine) int {
		return cmp.Or(cmp.Compare(b.Accrued+b.Projected, a.Accrued+a.Projected), cmp.Compare(a.Key, b.Key))
	})
	return out
}

// SavingsDay is what the policies saved on one UTC day (by when they
// asked for the destroys).
type SavingsDay struct {
	Day      time.Time
	TTL      Money
	Inactive Money
}

// Savings is what the reaper (TTL) and the inactivity policy saved over
// the last days.
type Savings struct {
	From, To  time.Time // From: the first day's midnight (UTC); To: now
	Days      []SavingsDay
	TTL       Money
	Inactive  Money
	Destroyed int // environments counted
}

// Total is everything saved.
func (s Savings) Total() Money { return s.TTL + s.Inactive }

// Savings sums what the reaper and the inactivity policy saved in the
// last days (today included): for each environment they destroyed, its
// rate from the destroy request until created + ttl.max.
func (s *Service) Savings(ctx context.Context, days int) (Savings, error) {
	days = min(max(days, 1), 366)
	now := s.now()
	today := now.Truncate(24 * time.Hour) // UTC midnight: now is UTC
	from := today.AddDate(0, 0, -(days - 1))
	rows, err := s.store.CostRows(ctx, storage.CostFilter{Causes: []string{CauseTTL, CauseInactive}, DestroyedSince: from, Priced: true})
	if err != nil {
		return Savings{}, err
	}
	out := Savings{From: from, To: now, Days: make([]SavingsDay, days)}
	for i := range out.Days {
		out.Days[i].Day = from.AddDate(0, 0, i)
	}
	for _, r := range rows {
		if r.DestroyRequestedAt == nil || r.DestroyRequestedAt.After(now) {
			continue
		}
		at := r.DestroyRequestedAt.UTC()
		saved := Money(r.HourlyCostMicros).Over(r.MaxExpiresAt.Sub(at))
		i := int(at.Sub(from) / (24 * time.Hour))
		if i < 0 || i >= days {
			continue
		}
		out.Destroyed++
		if r.DestroyCause == CauseTTL {
			out.Days[i].TTL += saved
			out.TTL += saved
		} else {
			out.Days[i].Inactive += saved
			out.Inactive += saved
		}
	}
	return out, nil
}

// Total is what the day saved.
func (d SavingsDay) Total() Money { return d.TTL + d.Inactive }

// Estimate is what a launch would cost until its expiry.
type Estimate struct {
	Priced bool // the version declares a cost
	Rate   Money
	TTL    time.Duration
	Total  Money
}

// EstimateLaunch is the cost of launching a template's version ("": the
// latest) for ttl ("": its default) with these parameter values (the
// priced ones decide the rate).
func (s *Service) EstimateLaunch(ctx context.Context, template, version, ttl string, params map[string]string) (Estimate, error) {
	tpl, err := s.Template(ctx, template)
	if err != nil {
		return Estimate{}, err
	}
	v, ok := tpl.Latest()
	if version != "" {
		i := slices.IndexFunc(tpl.Versions, func(v Version) bool { return v.Spec.Version == version })
		if i < 0 {
			return Estimate{}, Errorf(ENotFound, "template %s has no version %s", template, version)
		}
		v, ok = tpl.Versions[i], true
	}
	if !ok || v.Spec.Cost == nil {
		return Estimate{}, nil
	}
	e := Estimate{Priced: true, Rate: v.Spec.Cost.Rate(params), TTL: v.Spec.TTL.Default}
	if ttl != "" {
		d, err := time.ParseDuration(ttl)
		if err != nil || d < MinTTL || d > v.Spec.TTL.Max {
			return e, Invalid("estimate is not valid", FieldError{Field: "ttl", Message: fmt.Sprintf("%q is not a TTL from %s to %s", ttl, MinTTL, FormatDuration(v.Spec.TTL.Max))})
		}
		e.TTL = d
	}
	e.Total = e.Rate.Over(e.TTL)
	return e, nil
}
