package storage

import (
	"database/sql"
	"strings"
)

// Listings read many rows per request, and gorm's scan of each one
// (reflection over the model, one destination per field) was most of the API
// page's CPU in its profile. The hot listings scan their rows by hand.

// environmentColumns are Environment's columns in the order
// scanEnvironments reads them; a + marks a timestamp (see scantime.go).
var environmentColumns = columns("id, name, owner, owner_id, team, template_name, version, version_id, kind, provider, " +
	"params, secrets, secret_names, status, status_reason, failure_reason, outputs, facts, handle, " +
	"+created_at, +updated_at, +provision_started_at, +ready_at, +expires_at, +max_expires_at, " +
	"+destroy_requested_at, +destroyed_at, rto_ms, rpo_ms, provision_attempt, +destroy_given_up_at, " +
	"relaunched_from, pinned_snapshot, +stack_cleaned_at, +stack_held_until, stack_id, labels, hourly_cost_micros, destroy_cause")

// columnList is a select list as each database reads it: SQLite keeps the
// plus before a timestamp, PostgreSQL has none for timestamps. Both are
// made once, not per query.
type columnList struct{ sqlite, postgres string }

func columns(list string) columnList {
	return columnList{sqlite: list, postgres: strings.ReplaceAll(list, "+", "")}
}

// sqlColumns is the select list for this database.
func (q Queries) sqlColumns(c columnList) string {
	if q.postgres {
		return c.postgres
	}
	return c.sqlite
}

// scanEnvironments reads rows of environmentColumns, and closes them;
// capacity is the expected number of rows (a listing's limit).
func scanEnvironments(rows *sql.Rows, capacity int) ([]Environment, error) {
	defer rows.Close()
	out := make([]Environment, 0, min(capacity, 256))
	for rows.Next() {
		var e Environment
		var created, updated, provisionStarted, ready, expires, maxExpires, destroyRequested, destroyed, givenUp, cleaned, held scanTime
		var rto, rpo sql.NullInt64
		err := rows.Scan(&e.ID, &e.Name, &e.Owner, &e.OwnerID, &e.Team, &e.TemplateName, &e.Version, &e.VersionID, &e.Kind, &e.Provider,
			&e.Params, &e.Secrets, &e.SecretNames, &e.Status, &e.StatusReason, &e.FailureReason, &e.Outputs, &e.Facts, &e.Handle,
			&created, &updated, &provisionStarted, &ready, &expires, &maxExpires,
			&destroyRequested, &destroyed, &rto, &rpo, &e.ProvisionAttempt, &givenUp,
			&e.RelaunchedFrom, &e.PinnedSnapshot, &cleaned, &held, &e.StackID, &e.Labels, &e.HourlyCostMicros, &e.DestroyCause)
		if err != nil {
			return nil, err
		}
		e.CreatedAt, e.UpdatedAt, e.ExpiresAt, e.MaxExpiresAt = created.Time, updated.Time, expires.Time, maxExpires.Time
		e.ProvisionStartedAt = provisionStarted.Ptr()
		e.ReadyAt = ready.Ptr()
		e.DestroyRequestedAt = destroyRequested.Ptr()
		e.DestroyedAt = destroyed.Ptr()
		e.DestroyGivenUpAt = givenUp.Ptr()
		e.StackCleanedAt = cleaned.Ptr()
		e.StackHeldUntil = held.Ptr()
		e.RTOMillis = nullInt(rto)
		e.RPOMillis = nullInt(rpo)
		out = append(out, e)
	}
	return out, rows.Err()
}

func nullInt(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	return &n.Int64
}

// eventColumns are Event's columns in the order scanEvents reads them.
var eventColumns = columns("id, environment_id, +at, kind, status, message, actor, stack_id")

// scanEvents reads rows of eventColumns, and closes them.
func scanEvents(rows *sql.Rows, capacity int) ([]Event, error) {
	defer rows.Close()
	out := make([]Event, 0, min(capacity, 256))
	for rows.Next() {
		var ev Event
		var at scanTime
		if err := rows.Scan(&ev.ID, &ev.EnvironmentID, &at, &ev.Kind, &ev.Status, &ev.Message, &ev.Actor, &ev.StackID); err != nil {
			return nil, err
		}
		ev.At = at.Time
		out = append(out, ev)
	}
	return out, rows.Err()
}
