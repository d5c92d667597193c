package envs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// Inactivity: a version may destroy its environments once nobody used them
// for a while (inactivity: {idle: 8h, warn_before: 1h}). Activity is HTTP
// traffic through Mayfly's proxy link (/e/{id}/...) and people's actions
// on the environment (extend, replace, schedule changes, a relaunch's
// launch). Requests are counted in memory and written at most every
// ActivityFlush per environment (Touch), never one write per request. The
// lifecycle pass (every LifecycleInterval, on every replica) warns once
// per deadline and destroys what stayed idle, each claimed by a
// conditional update so that however many replicas run, it happens once.

// InactivityPolicy is a version's inactivity: Idle without activity
// destroys the environment, WarnBefore that it is warned (0: no warning).
type InactivityPolicy struct {
	Idle       time.Duration `json:"idle"`
	WarnBefore time.Duration `json:"warn_before"`
}

// Activity sources, as the environment page says them.
const (
	ViaProxy    = "proxy"
	ViaLaunch   = "launch"
	ViaExtend   = "extend"
	ViaReplace  = "replace"
	ViaSchedule = "schedule change"
)

// inactivity validates inactivity (nil when it asks for nothing).
func (v *validator) inactivity(raw rawInactivity) *InactivityPolicy {
	if raw.Idle == "" {
		v.add("inactivity.idle", "is required in inactivity (a duration such as 8h)")
		return nil
	}
	idle, err := time.ParseDuration(raw.Idle)
	if err != nil || idle < time.Minute {
		v.add("inactivity.idle", fmt.Sprintf("%q is not a duration of at least 1m such as 8h", raw.Idle))
		return nil
	}
	p := &InactivityPolicy{Idle: idle}
	if raw.WarnBefore != "" {
		w, err := time.ParseDuration(raw.WarnBefore)
		switch {
		case err != nil || w < 0:
			v.add("inactivity.warn_before", fmt.Sprintf("%q is not a duration such as 1h or 0s", raw.WarnBefore))
			return nil
		case w >= idle:
			v.add("inactivity.warn_before", fmt.Sprintf("%s must be shorter than inactivity.idle %s", raw.WarnBefore, raw.Idle))
			return nil
		}
		p.WarnBefore = w
	}
	return p
}

// activityBuffer holds the activity seen since the last flush: the latest
// time and source per environment.
type activityBuffer struct {
	mu      sync.Mutex
	pending map[string]seen
	// flushed is when each environment's activity was last written, so a
	// busy environment is written at most every ActivityFlush.
	flushed map[string]time.Time
}

type seen struct {
	at  time.Time
	via string
}

// Touch records activity on an environment: kept in memory and written by
// the next flush (at most every ActivityFlush per environment). Cheap
// enough for every proxied request.
func (s *Service) Touch(id, via string) {
	now := s.now()
	b := &s.activity
	b.mu.Lock()
	if b.pending == nil {
		b.pending, b.flushed = map[string]seen{}, map[string]time.Time{}
	}
	if cur, ok := b.pending[id]; !ok || now.After(cur.at) {
		b.pending[id] = seen{at: now, via: via}
	}
	b.mu.Unlock()
}

// FlushActivity writes the activity seen in memory whose environment was
// not written within ActivityFlush (all of it when force), moving their
// inactivity deadlines.
func (s *Service) FlushActivity(ctx context.Context, force bool) error {
	now := s.now()
	b := &s.activity
	b.mu.Lock()
	due := map[string]seen{}
	for id, sn := range b.pending {
		if force || now.Sub(b.flushed[id]) >= s.cfg.ActivityFlush {
			due[id] = sn
			delete(b.pending, id)
			b.flushed[id] = now
		}
	}
	for id, at := range b.flushed { // forget the quiet ones
		if now.Sub(at) > 2*s.cfg.ActivityFlush {
			if _, busy := b.pending[id]; !busy {
				delete(b.flushed, id)
			}
		}
	}
	b.mu.Unlock()
	if len(due) == 0 {
		return nil
	}
	ids := make([]string, 0, len(due))
	for id := range due {
		ids = append(ids, id)
	}
	rows, err := s.store.Activities(ctx, ids)
	if err != nil {
		return err
	}
	var first error
	for i := range rows {
		a := &rows[i]
		sn := due[a.EnvironmentID]
		warnAt, until := idleDeadlines(a.IdleTTL, a.IdleWarn, sn.at)
		if _, err := s.store.RecordActivity(ctx, a.EnvironmentID, sn.at, sn.via, warnAt, until); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// idleDeadlines are when an environment last active at `at` is warned and
// destroyed for inactivity (nil, nil without a policy).
func idleDeadlines(idle, warn time.Duration, at time.Time) (warnAt, until *time.Time) {
	if idle <= 0 {
		return nil, nil
	}
	u := at.Add(idle)
	w := u.Add(-warn)
	return &w, &u
}

// recordActivityRow writes a new environment's activity row in its
// launch's transaction: the launch is its first activity, and its
// schedule ("" for the team's default) gives its first stop.
func (s *Service) recordActivityRow(ctx context.Context, tx *storage.Tx, row *storage.Environment, spec Spec, schedule string) error {
	now := s.now()
	a := &storage.EnvironmentActivity{EnvironmentID: row.ID, LastActiveAt: now, LastActiveVia: ViaLaunch,
		Schedule: schedule, UpdatedAt: now}
	if spec.Inactivity != nil {
		a.IdleTTL, a.IdleWarn = spec.Inactivity.Idle, spec.Inactivity.WarnBefore
		a.IdleWarnAt, a.IdleUntil = idleDeadlines(a.IdleTTL, a.IdleWarn, now)
	}
	sched, _, err := s.effectiveSchedule(ctx, tx, row.Team, schedule)
	if err != nil {
		return err
	}
	if sched != nil {
		next := sched.NextStop(now)
		a.StopAt = &next
	}
	return tx.CreateActivity(ctx, a)
}

// lifecycleBatch bounds what one lifecycle pass does per kind of deadline.
const lifecycleBatch = 200

// RunLifecycle is one pass of the lifecycle policies: it writes the
// activity seen, warns the environments idle for long, destroys those
// idle for too long, and stops and starts environments on their
// schedules. The reaper's loop runs it every LifecycleInterval; tests call
// it after moving their clock.
func (s *Service) RunLifecycle(ctx context.Context) error {
	errs := []error{s.FlushActivity(ctx, false), s.warnIdle(ctx), s.destroyIdle(ctx), s.scheduleStops(ctx), s.scheduleStarts(ctx)}
	return errors.Join(errs...)
}

// warnIdle warns, once per deadline, the ready environments whose idle
// warning is due.
func (s *Service) warnIdle(ctx context.Context) error {
	now := s.now()
	due, err := s.store.ActivityDue(ctx, storage.IdleWarning, statusStrings(StatusReady), now, lifecycleBatch)
	if err != nil {
		return err
	}
	for _, a := range due {
		if a.IdleUntil == nil || !a.IdleUntil.After(now) {
			continue // past its deadline: destroyIdle takes it
		}
		claimed := false
		err := s.store.InTx(ctx, func(tx *storage.Tx) error {
			ok, err := tx.ClaimActivity(ctx, a.EnvironmentID, storage.IdleWarning, now,
				storage.ActivityUpdate{IdleWarnedAt: storage.At(now), UpdatedAt: storage.Set(now)})
			if err != nil || !ok {
				return err
			}
			claimed = true
			msg := fmt.Sprintf("Inactive for %s: destroyed at %s unless it is used before (open it through Mayfly's link, or extend it)",
				FormatDuration(now.Sub(a.LastActiveAt)), a.IdleUntil.Format(time.RFC3339))
			if err := s.addEvent(ctx, tx, a.EnvironmentID, EventAction, "", msg, "reaper"); err != nil {
				return err
			}
			r, err := tx.Environment(ctx, a.EnvironmentID)
			if err != nil {
				return err
			}
			return s.notice(ctx, tx, s.envNotice(r, NoticeInactiveSoon,
				"Environment "+r.Name+" inactive: destroyed at "+a.IdleUntil.Format(time.RFC3339), msg))
		})
		if err != nil {
			return err
		}
		if !claimed {
			continue
		}
		s.hub.notify(a.EnvironmentID)
		s.log.Info("environment inactive soon", "environment", a.EnvironmentID, "until", a.IdleUntil)
	}
	return nil
}

// destroyIdle destroys the live environments idle past their deadline, as
// the reaper, with the reason "inactive".
func (s *Service) destroyIdle(ctx context.Context) error {
	now := s.now()
	due, err := s.store.ActivityDue(ctx, storage.IdleDestroy, statusStrings(StatusReady), now, lifecycleBatch)
	if err != nil {
		return err
	}
	for _, a := range due {
		destroyed := false
		err := s.store.InTx(ctx, func(tx *storage.Tx) error {
			// Claimed first: the row stays locked, so activity written
			// meanwhile by another replica waits for this decision.
			ok, err := tx.ClaimActivity(ctx, a.EnvironmentID, storage.IdleDestroy, now, storage.ActivityUpdate{UpdatedAt: storage.Set(now)})
			if err != nil || !ok {
				return err
			}
			r, err := tx.Environment(ctx, a.EnvironmentID)
			if err != nil {
				return err
			}
			reason := fmt.Sprintf("Inactive for %s (inactivity.idle %s): destroying", FormatDuration(now.Sub(a.LastActiveAt)), FormatDuration(a.IdleTTL))
			if destroyed, err = s.requestDestroy(ctx, tx, r, reason, "reaper", time.Time{}); err != nil || !destroyed {
				return err
			}
			entry := s.auditEntry(Actor{Name: "reaper", Via: "system"}, "environment.destroy", r.ID, nil)
			entry.Detail = "inactive"
			return tx.Audit(ctx, entry)
		})
		if err != nil {
			return err
		}
		if destroyed {
			s.hub.notify(a.EnvironmentID)
			s.log.Info("environment destroyed for inactivity", "environment", a.EnvironmentID, "last_active", a.LastActiveAt)
		}
	}
	return nil
}

// Lifecycle is what keeps an environment running, or stopped, beyond its
// status: its last activity, its inactivity deadline and its schedule.
type Lifecycle struct {
	LastActiveAt  time.Time
	LastActiveVia string
	// Idle is the inactivity policy's (0: none); IdleUntil when it is
	// destroyed unless used, IdleWarnedAt when it was warned.
	Idle         time.Duration
	IdleUntil    *time.Time
	IdleWarnedAt *time.Time
	// Schedule is the schedule it follows (nil: none); ScheduleFrom says
	// whose it is: "environment" or "team". Override is the environment's
	// own setting: "" (the team's), "off", or "custom".
	Schedule     *Schedule
	ScheduleFrom string
	Override     string
	// StopAt is the next stop of a live environment; StoppedAt and StartAt
	// when a stopped one stopped and starts again; RelaunchedAs what that
	// start launched.
	StopAt       *time.Time
	StoppedAt    *time.Time
	StartAt      *time.Time
	RelaunchedAs string
}

// EnvironmentLifecycle is what keeps the environment running (nil for an
// environment launched before lifecycles were recorded).
func (s *Service) EnvironmentLifecycle(ctx context.Context, id string) (*Lifecycle, error) {
	r, err := s.store.Environment(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, Errorf(ENotFound, "environment %q does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	a, err := s.store.Activity(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	l := &Lifecycle{LastActiveAt: a.LastActiveAt.UTC(), LastActiveVia: a.LastActiveVia, Idle: a.IdleTTL,
		IdleUntil: utcPtr(a.IdleUntil), IdleWarnedAt: utcPtr(a.IdleWarnedAt), StopAt: utcPtr(a.StopAt),
		StoppedAt: utcPtr(a.StoppedAt), StartAt: utcPtr(a.StartAt), RelaunchedAs: a.RelaunchedAs}
	// Activity still in memory is newer than the row.
	s.activity.mu.Lock()
	if sn, ok := s.activity.pending[id]; ok && sn.at.After(l.LastActiveAt) {
		l.LastActiveAt, l.LastActiveVia = sn.at, sn.via
		_, l.IdleUntil = idleDeadlines(a.IdleTTL, a.IdleWarn, sn.at)
	}
	s.activity.mu.Unlock()
	switch a.Schedule {
	case "", scheduleOff:
		l.Override = a.Schedule
	default:
		l.Override = "custom"
	}
	l.Schedule, l.ScheduleFrom, err = s.effectiveSchedule(ctx, s.store, r.Team, a.Schedule)
	return l, err
}

// ProxyTarget is where Mayfly's proxy link to environment id forwards:
// the environment itself, or, when its schedule stopped it and started it
// again, the one that started in its place (so a link survives the
// night), and the URL of its "url" output (else its first http(s)
// output). An environment that is not ready, or has no URL, answers
// EConflict saying so.
func (s *Service) ProxyTarget(ctx context.Context, id string) (envID string, target *url.URL, err error) {
	for hops := 0; ; hops++ {
		r, err := s.store.Environment(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return "", nil, Errorf(ENotFound, "environment %q does not exist", id)
		}
		if err != nil {
			return "", nil, err
		}
		e := environmentFromRow(r, nil)
		if e.Status == StatusReady {
			u := proxyURL(e.Outputs)
			if u == nil {
				return "", nil, Errorf(EConflict, "environment %s has no URL output to open", e.Name)
			}
			return e.ID, u, nil
		}
		next, starts := "", ""
		if a, err := s.store.Activity(ctx, id); err == nil && a.RelaunchedAs != "-" {
			next = a.RelaunchedAs
			if next == "" && a.StartAt != nil {
				starts = a.StartAt.UTC().Format(time.RFC3339)
			}
		}
		if starts != "" {
			return "", nil, Errorf(EConflict, "environment %s is stopped by its schedule; a fresh stack starts at %s", e.Name, starts)
		}
		if next == "" || hops >= 20 {
			msg := fmt.Sprintf("environment %s is %s", e.Name, e.Status)
			if !e.Status.Live() && e.Status != StatusDestroyed {
				msg += ": there is nothing to open"
			}
			return "", nil, Errorf(EConflict, "%s", msg)
		}
		id = next
	}
}

// proxyURL is the output the proxy forwards to (nil: none).
func proxyURL(outputs map[string]string) *url.URL {
	parse := func(v string) *url.URL {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil
		}
		return u
	}
	if u := parse(outputs["url"]); u != nil {
		return u
	}
	for _, k := range slices.Sorted(maps.Keys(outputs)) {
		if u := parse(outputs[k]); u != nil {
			return u
		}
	}
	return nil
}
