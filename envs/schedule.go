package envs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // schedules name IANA zones; a host without zoneinfo knows them too

	"github.com/robfig/cron/v3"

	"github.com/mayflyhq/mayfly/storage"
)

// Working-hours schedules: a long-lived environment is destroyed (its
// stack) at the schedule's stop and launched again at its next start from
// the same version and parameters, as a fresh stack: a linked relaunch
// (decision 107), which keeps its name, owner, team, labels' meaning and
// expiry. A team sets the default of its environments; an environment may
// follow it, have its own, or none ("off"). Each stop and start is claimed
// by a conditional update of the environment's activity row, so it
// happens once however many replicas run.

// Schedule is a working-hours window: cron expressions (minute hour
// day-of-month month day-of-week) for the stop and the start, in a time
// zone.
type Schedule struct {
	Stop  string `json:"stop"`
	Start string `json:"start"`
	TZ    string `json:"tz"`

	stop, start cron.Schedule
	loc         *time.Location
}

// scheduleOff is an environment's setting for no schedule at all.
const scheduleOff = "off"

// ParseSchedule checks a schedule, naming the field at fault.
func ParseSchedule(stop, start, tz string) (*Schedule, error) {
	s := &Schedule{Stop: strings.TrimSpace(stop), Start: strings.TrimSpace(start), TZ: strings.TrimSpace(tz)}
	var fields []FieldError
	var err error
	if s.TZ == "" {
		s.TZ = "UTC"
	}
	if s.loc, err = time.LoadLocation(s.TZ); err != nil || strings.EqualFold(s.TZ, "local") {
		fields = append(fields, FieldError{Field: "tz", Message: fmt.Sprintf("%q is not a time zone such as Europe/Paris or UTC", truncate(s.TZ, 60))})
	}
	parse := func(field, expr string) cron.Schedule {
		if expr == "" {
			fields = append(fields, FieldError{Field: field, Message: "is required (a cron expression such as 0 19 * * MON-FRI)"})
			return nil
		}
		if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
			fields = append(fields, FieldError{Field: field, Message: "must not name a time zone; set tz instead"})
			return nil
		}
		c, err := cron.ParseStandard(expr)
		if err != nil {
			fields = append(fields, FieldError{Field: field, Message: fmt.Sprintf("%q is not a cron expression (minute hour day month weekday): %v", truncate(expr, 80), err)})
			return nil
		}
		return c
	}
	s.stop, s.start = parse("stop", s.Stop), parse("start", s.Start)
	if len(fields) > 0 {
		return nil, Invalid("schedule is not valid", fields...)
	}
	return s, nil
}

// NextStop is the first stop after t.
func (s *Schedule) NextStop(t time.Time) time.Time { return s.stop.Next(t.In(s.loc)).UTC() }

// NextStart is the first start after t.
func (s *Schedule) NextStart(t time.Time) time.Time { return s.start.Next(t.In(s.loc)).UTC() }

// Location is the schedule's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

func (s *Schedule) encode() string {
	b, _ := json.Marshal(s)
	return string(b)
}

func decodeSchedule(text string) (*Schedule, error) {
	var raw Schedule
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("envs: stored schedule %q: %w", truncate(text, 80), err)
	}
	return ParseSchedule(raw.Stop, raw.Start, raw.TZ)
}

type teamScheduleReader interface {
	TeamSchedule(ctx context.Context, team string) (*storage.TeamSchedule, error)
}

// effectiveSchedule is the schedule an environment of team with the given
// setting follows, and whose it is ("environment", "team"; nil, "" for
// none).
func (s *Service) effectiveSchedule(ctx context.Context, q teamScheduleReader, team, setting string) (*Schedule, string, error) {
	switch setting {
	case scheduleOff:
		return nil, "", nil
	case "":
		if team == "" {
			return nil, "", nil
		}
		t, err := q.TeamSchedule(ctx, team)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, "", nil
		}
		if err != nil {
			return nil, "", err
		}
		sched, err := ParseSchedule(t.Stop, t.Start, t.TZ)
		if err != nil {
			return nil, "", fmt.Errorf("envs: stored schedule of team %s: %w", team, err)
		}
		return sched, "team", nil
	}
	sched, err := decodeSchedule(setting)
	return sched, "environment", err
}

// ScheduleRequest sets a schedule: Mode "team" (follow the team's
// default; for a team: remove it), "off" (none), or "custom" with Stop,
// Start and TZ.
type ScheduleRequest struct {
	Mode            string
	Stop, Start, TZ string
}

// parse reads a request into the stored setting ("" team, "off", JSON).
func (r ScheduleRequest) parse() (string, *Schedule, error) {
	switch strings.TrimSpace(r.Mode) {
	case "team", "":
		if r.Mode == "" && (r.Stop != "" || r.Start != "") {
			break // a schedule given without a mode is custom
		}
		return "", nil, nil
	case scheduleOff:
		return scheduleOff, nil, nil
	case "custom":
	default:
		return "", nil, Invalid("schedule is not valid", FieldError{Field: "mode", Message: fmt.Sprintf("%q is not team, off or custom", truncate(r.Mode, 40))})
	}
	sched, err := ParseSchedule(r.Stop, r.Start, r.TZ)
	if err != nil {
		return "", nil, err
	}
	return sched.encode(), sched, nil
}

// SetEnvironmentSchedule overrides the team's schedule for one live
// environment (or returns it to the team's), moving its next stop.
func (s *Service) SetEnvironmentSchedule(ctx context.Context, actor Actor, id string, req ScheduleRequest) (err error) {
	defer func() { s.audit(ctx, actor, "environment.schedule", id, err) }()
	if err := Authorize(actor, PermLaunch); err != nil {
		return err
	}
	setting, _, err := req.parse()
	if err != nil {
		return err
	}
	now := s.now()
	err = s.store.InTx(ctx, func(tx *storage.Tx) error {
		r, err := tx.Environment(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return Errorf(ENotFound, "environment %q does not exist", id)
		}
		if err != nil {
			return err
		}
		e := environmentFromRow(r, nil)
		if err := CanActOn(actor, e); err != nil {
			return err
		}
		if !e.Status.Live() {
			// A stopped one may still be kept from starting again.
			if setting == scheduleOff {
				if ok, err := s.cancelScheduledStart(ctx, tx, id, actor.Name); err != nil || ok {
					return err
				}
			}
			return Errorf(EConflict, "environment %s is %s: its schedule can no longer change", e.Name, e.Status)
		}
		if _, err := tx.Activity(ctx, id); errors.Is(err, storage.ErrNotFound) {
			if err := tx.CreateActivity(ctx, &storage.EnvironmentActivity{EnvironmentID: id, LastActiveAt: now, LastActiveVia: ViaSchedule, UpdatedAt: now}); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		sched, from, err := s.effectiveSchedule(ctx, tx, r.Team, setting)
		if err != nil {
			return err
		}
		var stop *time.Time
		msg := "Schedule: none (stays up until it expires)"
		if sched != nil {
			next := sched.NextStop(now)
			stop = &next
			msg = fmt.Sprintf("Schedule: %s (stop %q, start %q, %s); next stop %s", from, sched.Stop, sched.Start, sched.TZ, next.Format(time.RFC3339))
		}
		if err := tx.UpdateActivity(ctx, id, storage.ActivityUpdate{Schedule: storage.Set(setting), StopAt: storage.Set(stop), UpdatedAt: storage.Set(now)}); err != nil {
			return err
		}
		return s.addEvent(ctx, tx, id, EventAction, "", msg, actor.Name)
	})
	if err != nil {
		return err
	}
	s.Touch(id, ViaSchedule)
	s.hub.notify(id)
	return nil
}

// TeamSchedule is a team's default schedule (nil: none).
func (s *Service) TeamSchedule(ctx context.Context, team string) (*Schedule, error) {
	sched, _, err := s.effectiveSchedule(ctx, s.store, team, "")
	return sched, err
}

// SetTeamSchedule sets (Mode "custom") or removes (Mode "team" or "off")
// a team's default schedule, as an admin or a member of the team, and
// moves the next stop of the team's live environments that follow it.
func (s *Service) SetTeamSchedule(ctx context.Context, actor Actor, team string, req ScheduleRequest) (err error) {
	defer func() { s.audit(ctx, actor, "team.schedule", team, err) }()
	if err := Authorize(actor, PermLaunch); err != nil {
		return err
	}
	team = strings.TrimSpace(team)
	if msg := textProblem(team); team == "" || msg != "" || len(team) > 200 {
		return Invalid("schedule is not valid", FieldError{Field: "team", Message: cmpOr(msg, "is required (at most 200 bytes)")})
	}
	if !actor.IsAdmin() && !slices.Contains(actor.Teams, team) {
		return Errorf(EForbidden, "only members of the team %q or an administrator can set its schedule", team)
	}
	setting, sched, err := req.parse()
	if err != nil {
		return err
	}
	now := s.now()
	return s.store.InTx(ctx, func(tx *storage.Tx) error {
		if setting == "" || setting == scheduleOff {
			if err := tx.DeleteTeamSchedule(ctx, team); err != nil {
				return err
			}
			sched = nil
		} else if err := tx.SaveTeamSchedule(ctx, &storage.TeamSchedule{Team: team, Stop: sched.Stop, Start: sched.Start,
			TZ: sched.TZ, UpdatedBy: actor.Name, UpdatedAt: now}); err != nil {
			return err
		}
		rows, err := tx.LiveActivitiesOfTeam(ctx, team, statusStrings(StatusPending, StatusProvisioning, StatusReady))
		if err != nil {
			return err
		}
		var stop *time.Time
		if sched != nil {
			next := sched.NextStop(now)
			stop = &next
		}
		for _, a := range rows {
			if err := tx.UpdateActivity(ctx, a.EnvironmentID, storage.ActivityUpdate{StopAt: storage.Set(stop), UpdatedAt: storage.Set(now)}); err != nil {
				return err
			}
		}
		return nil
	})
}

// scheduleStops destroys the ready environments whose schedule's stop is
// due, recording when they start again.
func (s *Service) scheduleStops(ctx context.Context) error {
	now := s.now()
	due, err := s.store.ActivityDue(ctx, storage.ScheduledStop, statusStrings(StatusPending, StatusProvisioning, StatusReady), now, lifecycleBatch)
	if err != nil {
		return err
	}
	for _, a := range due {
		stopped := false
		err := s.store.InTx(ctx, func(tx *storage.Tx) error {
			r, err := tx.Environment(ctx, a.EnvironmentID)
			if err != nil {
				return err
			}
			sched, from, err := s.effectiveSchedule(ctx, tx, r.Team, a.Schedule)
			if err != nil {
				return err
			}
			updates := storage.ActivityUpdate{StopAt: storage.Clear[time.Time](), UpdatedAt: storage.Set(now)}
			var start time.Time
			if sched != nil {
				start = sched.NextStart(now)
				if start.Before(r.ExpiresAt) { // else it expires before it would start again
					updates.StartAt, updates.StoppedAt = storage.At(start), storage.At(now)
				}
			}
			ok, err := tx.ClaimActivity(ctx, a.EnvironmentID, storage.ScheduledStop, now, updates)
			if err != nil || !ok || sched == nil {
				return err
			}
			reason := fmt.Sprintf("Schedule (%s, %s): stopped for the night; a fresh stack starts at %s", from, sched.TZ,
				start.In(sched.Location()).Format("Mon 2 Jan 15:04 MST"))
			if !updates.StartAt.Set {
				reason = fmt.Sprintf("Schedule (%s, %s): stopped; it expires before the next start", from, sched.TZ)
			}
			if stopped, err = s.requestDestroy(ctx, tx, r, reason, "schedule", time.Time{}); err != nil {
				return err
			}
			if !stopped {
				return errNothingToDo // not live any more: the claim is undone
			}
			entry := s.auditEntry(Actor{Name: "schedule", Via: "system"}, "environment.destroy", r.ID, nil)
			entry.Detail = "schedule stop"
			return tx.Audit(ctx, entry)
		})
		if err != nil && !errors.Is(err, errNothingToDo) {
			return err
		}
		if stopped {
			s.hub.notify(a.EnvironmentID)
			s.log.Info("environment stopped by its schedule", "environment", a.EnvironmentID)
		}
	}
	return nil
}

var errNothingToDo = errors.New("envs: nothing to do")

// scheduleStarts relaunches the environments stopped by their schedule
// whose start is due, once each stop is destroyed.
func (s *Service) scheduleStarts(ctx context.Context) error {
	now := s.now()
	due, err := s.store.ActivityDue(ctx, storage.ScheduledStart, statusStrings(StatusDestroyed), now, lifecycleBatch)
	if err != nil {
		return err
	}
	for _, a := range due {
		if err := s.scheduledRelaunch(ctx, a, now); err != nil {
			s.log.Warn("scheduled start", "environment", a.EnvironmentID, "err", err)
		}
	}
	return nil
}

// scheduledRelaunch launches a stopped environment again: its version and
// parameters (secrets included), name, owner, team, labels and expiry, a
// fresh stack. The start is claimed in the launch's transaction. A start
// that cannot launch (the version was retired meanwhile, its expiry
// passed) says why on the stopped environment's timeline, once.
func (s *Service) scheduledRelaunch(ctx context.Context, a storage.EnvironmentActivity, now time.Time) error {
	srcRow, src, err := s.relaunchSource(ctx, a.EnvironmentID)
	if err != nil {
		return err
	}
	row, spec, err := s.scheduledRow(ctx, srcRow, src, now)
	if err != nil {
		return s.scheduleFailed(ctx, a.EnvironmentID, now, err)
	}
	claim := func(tx *storage.Tx, envID string) error {
		ok, err := tx.ClaimActivity(ctx, a.EnvironmentID, storage.ScheduledStart, now,
			storage.ActivityUpdate{RelaunchedAs: storage.Set(envID), UpdatedAt: storage.Set(now)})
		if err != nil {
			return err
		}
		if !ok {
			return errNothingToDo
		}
		return nil
	}
	err = s.insertLaunch(ctx, row, false, claim, func(tx *storage.Tx) error {
		if err := s.recordActivityRow(ctx, tx, row, spec, a.Schedule); err != nil {
			return err
		}
		msg := fmt.Sprintf("Started by its schedule: relaunched from %s (%s), %s@%s as a fresh stack, expiring at %s",
			src.Name, src.ID, spec.Name, spec.Version, row.ExpiresAt.Format(time.RFC3339))
		if err := s.addEvent(ctx, tx, row.ID, EventStatus, StatusPending, msg, "schedule"); err != nil {
			return err
		}
		if err := s.addEvent(ctx, tx, src.ID, EventAction, "", fmt.Sprintf("Started again by its schedule as %s (%s)", row.Name, row.ID), "schedule"); err != nil {
			return err
		}
		entry := s.auditEntry(Actor{Name: "schedule", Via: "system"}, "environment.relaunch", row.ID, nil)
		entry.Detail = src.ID
		return tx.Audit(ctx, entry)
	})
	if errors.Is(err, errNothingToDo) {
		return nil // another replica started it
	}
	if err != nil {
		if ErrorCode(err) == EConflict || ErrorCode(err) == EInvalid {
			return s.scheduleFailed(ctx, a.EnvironmentID, now, err)
		}
		return err
	}
	s.hub.notify(row.ID)
	s.hub.notify(src.ID)
	s.log.Info("environment started by its schedule", "environment", row.ID, "from", src.ID, "name", row.Name)
	return nil
}

// scheduledRow is the environment a scheduled start launches.
func (s *Service) scheduledRow(ctx context.Context, srcRow *storage.Environment, src *Environment, now time.Time) (*storage.Environment, Spec, error) {
	if !src.ExpiresAt.After(now.Add(MinTTL)) {
		return nil, Spec{}, Errorf(EConflict, "it expired at %s", src.ExpiresAt.Format(time.RFC3339))
	}
	_, version, err := s.relaunchVersion(ctx, src, "")
	if err != nil {
		return nil, Spec{}, err
	}
	spec := version.Spec
	values := map[string]any{}
	for k, v := range src.Params {
		values[k] = v
	}
	if len(src.SecretNames) > 0 {
		secrets, err := s.cipher.open(srcRow.Secrets, srcRow.ID)
		if err != nil {
			return nil, Spec{}, fmt.Errorf("envs: scheduled start of %s: secrets: %w", src.ID, err)
		}
		for k, v := range secrets {
			values[k] = v
		}
	}
	ttl := min(src.ExpiresAt.Sub(now), spec.TTL.Max).Truncate(time.Second)
	plan, err := s.planLaunch(ctx, version, src.Name, ttl.String(), values, nil)
	if err != nil {
		return nil, Spec{}, err
	}
	owner := Actor{Name: src.Owner, UserID: src.OwnerID, Team: src.Team}
	row, err := s.newEnvironmentRow(owner, plan)
	if err != nil {
		return nil, Spec{}, err
	}
	row.ExpiresAt, row.MaxExpiresAt = srcRow.ExpiresAt, srcRow.MaxExpiresAt
	row.RelaunchedFrom, row.Labels = src.ID, srcRow.Labels
	return row, spec, nil
}

// scheduleFailed records, once, why a scheduled start could not launch.
func (s *Service) scheduleFailed(ctx context.Context, id string, now time.Time, cause error) error {
	return s.store.InTx(ctx, func(tx *storage.Tx) error {
		ok, err := tx.ClaimActivity(ctx, id, storage.ScheduledStart, now,
			storage.ActivityUpdate{RelaunchedAs: storage.Set("-"), UpdatedAt: storage.Set(now)})
		if err != nil || !ok {
			return err
		}
		return s.addEvent(ctx, tx, id, EventAction, "", "Schedule could not start it again: "+ErrorMessage(cause), "schedule")
	})
}

// cancelScheduledStart keeps an environment its schedule stopped from
// starting again, in the caller's transaction; it reports whether a start
// was pending.
func (s *Service) cancelScheduledStart(ctx context.Context, tx *storage.Tx, id, actor string) (bool, error) {
	now := s.now()
	ok, err := tx.ClaimPendingStart(ctx, id, storage.ActivityUpdate{StartAt: storage.Clear[time.Time](), UpdatedAt: storage.Set(now)})
	if err != nil || !ok {
		return false, err
	}
	return true, s.addEvent(ctx, tx, id, EventAction, "", "Scheduled start cancelled by "+actor+": it stays destroyed", actor)
}
