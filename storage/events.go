package storage

import (
	"context"
	"fmt"
	"slices"
)

// The environments' timelines.

// AddEvent appends an event to a timeline; ev.ID is set.
//
// Timelines are followed by id (Events after an id), so within one
// environment ids must be handed out in commit order, or a follower that
// already passed a higher id misses a lower one committed later. SQLite
// commits one transaction at a time. On PostgreSQL the event's transaction
// first locks the environment's row, which every other writer of that
// timeline also locks (transitions and extensions update it), so the next
// id is drawn only once the previous writer has committed. Call it inside
// a transaction (DB.AddEvent opens one).
func (q Queries) AddEvent(ctx context.Context, ev *Event) error {
	if q.lockForEvents {
		var id string
		if err := q.ctx(ctx).Raw(`SELECT id FROM environments WHERE id = ? FOR UPDATE`, ev.EnvironmentID).Scan(&id).Error; err != nil {
			return fmt.Errorf("storage: add event to %s: lock timeline: %w", ev.EnvironmentID, err)
		}
	}
	if err := q.ctx(ctx).Create(ev).Error; err != nil {
		return fmt.Errorf("storage: add event to %s: %w", ev.EnvironmentID, err)
	}
	return nil
}

// AddEventWhile appends an event only while the environment is in one of
// the given statuses, and reports whether it did: a provider's progress
// reported after a destroy was requested is not shown as if the launch
// went on. The status is read with the environment's row locked
// (PostgreSQL) or in SQLite's one writing transaction, so a destroy
// request commits either before the check or after the event. Call it
// inside a transaction (DB.AddEventWhile opens one).
func (q Queries) AddEventWhile(ctx context.Context, ev *Event, statuses []string) (bool, error) {
	query := `SELECT status FROM environments WHERE id = ?`
	if q.postgres {
		query += ` FOR UPDATE`
	}
	var status []string
	if err := q.ctx(ctx).Raw(query, ev.EnvironmentID).Scan(&status).Error; err != nil {
		return false, fmt.Errorf("storage: add event to %s: read status: %w", ev.EnvironmentID, err)
	}
	if len(status) == 0 || !slices.Contains(statuses, status[0]) {
		return false, nil
	}
	if err := q.ctx(ctx).Create(ev).Error; err != nil {
		return false, fmt.Errorf("storage: add event to %s: %w", ev.EnvironmentID, err)
	}
	return true, nil
}

// HasEvent reports whether an environment's timeline holds an event of
// the kind with exactly this message.
func (q Queries) HasEvent(ctx context.Context, envID, kind, message string) (bool, error) {
	var ids []int64
	err := q.ctx(ctx).Model(&Event{}).Where("environment_id = ? AND kind = ? AND message = ?", envID, kind, message).Limit(1).Pluck("id", &ids).Error
	if err != nil {
		return false, fmt.Errorf("storage: find event of %s: %w", envID, err)
	}
	return len(ids) > 0, nil
}

// AddEvents appends many events at once (ids are set), in the caller's
// transaction. On PostgreSQL it first locks their environments' rows, in id
// order, for the same reason as AddEvent (a transaction that changed those
// rows already holds the locks).
func (q Queries) AddEvents(ctx context.Context, evs []Event) error {
	return q.addEvents(ctx, evs, q.lockForEvents)
}

// AddEventsLocked is AddEvents for environments whose rows the caller's
// transaction has already changed (and so holds locked until it ends), as
// the reaper's batch has: it skips locking them again, which cost a
// 1,000-row SELECT ... FOR UPDATE per batch on PostgreSQL.
func (q Queries) AddEventsLocked(ctx context.Context, evs []Event) error {
	return q.addEvents(ctx, evs, false)
}

func (q Queries) addEvents(ctx context.Context, evs []Event, lock bool) error {
	if len(evs) == 0 {
		return nil
	}
	if lock {
		ids := make([]string, 0, len(evs))
		for _, ev := range evs {
			ids = append(ids, ev.EnvironmentID)
		}
		slices.Sort(ids)
		var locked []string
		err := q.ctx(ctx).Raw(`SELECT id FROM environments WHERE id IN ? ORDER BY id FOR UPDATE`, slices.Compact(ids)).Scan(&locked).Error
		if err != nil {
			return fmt.Errorf("storage: add %d events: lock timelines: %w", len(evs), err)
		}
	}
	if err := q.ctx(ctx).CreateInBatches(evs, 500).Error; err != nil {
		return fmt.Errorf("storage: add %d events: %w", len(evs), err)
	}
	return nil
}

// Events lists an environment's events with id > after, oldest first.
func (q Queries) Events(ctx context.Context, envID string, after int64, limit int) ([]Event, error) {
	db := q.ctx(ctx).Model(&Event{}).Select(q.sqlColumns(eventColumns)).Where("environment_id = ? AND id > ?", envID, after).Order("id")
	if limit > 0 {
		db = db.Limit(limit)
	}
	rows, err := db.Rows()
	if err != nil {
		return nil, fmt.Errorf("storage: list events of %s: %w", envID, err)
	}
	evs, err := scanEvents(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: list events of %s: %w", envID, err)
	}
	return evs, nil
}

// LastEvents lists an environment's newest `limit` events, oldest first
// (the events_environment index, walked backwards).
func (q Queries) LastEvents(ctx context.Context, envID string, limit int) ([]Event, error) {
	rows, err := q.ctx(ctx).Model(&Event{}).Select(q.sqlColumns(eventColumns)).Where("environment_id = ?", envID).Order("id DESC").Limit(limit).Rows()
	if err != nil {
		return nil, fmt.Errorf("storage: list last events of %s: %w", envID, err)
	}
	evs, err := scanEvents(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: list last events of %s: %w", envID, err)
	}
	slices.Reverse(evs)
	return evs, nil
}

// LastEventID is the id of the newest event of any environment (0 if none).
func (q Queries) LastEventID(ctx context.Context) (int64, error) {
	var id *int64
	if err := q.ctx(ctx).Model(&Event{}).Select("MAX(id)").Scan(&id).Error; err != nil {
		return 0, fmt.Errorf("storage: last event id: %w", err)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}

// EventsSince lists events of every environment with id > after.
func (q Queries) EventsSince(ctx context.Context, after int64, limit int) ([]Event, error) {
	var evs []Event
	if err := q.ctx(ctx).Where("id > ?", after).Order("id").Limit(limit).Find(&evs).Error; err != nil {
		return nil, fmt.Errorf("storage: list events: %w", err)
	}
	return evs, nil
}

// AddEventWhile is Queries.AddEventWhile in a transaction of its own.
func (db *DB) AddEventWhile(ctx context.Context, ev *Event, statuses []string) (bool, error) {
	var added bool
	err := db.InTx(ctx, func(tx *Tx) error {
		var err error
		added, err = tx.AddEventWhile(ctx, ev, statuses)
		return err
	})
	return added, err
}

// AddEvent appends an event outside any other change, in a transaction of
// its own (see Queries.AddEvent).
func (db *DB) AddEvent(ctx context.Context, ev *Event) error {
	if !db.lockForEvents {
		return db.Queries.AddEvent(ctx, ev)
	}
	return db.InTx(ctx, func(tx *Tx) error { return tx.AddEvent(ctx, ev) })
}
