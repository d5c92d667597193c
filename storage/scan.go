package storage

import (
	"database/sql"
	"time"
)

// Listings read many rows per request, and gorm's scan of each one
// (reflection over the model, one destination per field) was most of the API
// page's CPU in its profile. The hot listings scan their rows by hand.

// environmentColumns are Environment's columns in the order
// scanEnvironments reads them.
const environmentColumns = "id, name, owner, team, template_name, version, version_id, kind, provider, " +
	"params, secrets, secret_names, status, status_reason, failure_reason, outputs, facts, handle, " +
	"created_at, updated_at, provision_started_at, ready_at, expires_at, max_expires_at, " +
	"destroy_requested_at, destroyed_at, rto_ms, rpo_ms, provision_attempt"

// scanEnvironments reads rows of environmentColumns, and closes them;
// capacity is the expected number of rows (a listing's limit).
func scanEnvironments(rows *sql.Rows, capacity int) ([]Environment, error) {
	defer rows.Close()
	out := make([]Environment, 0, min(capacity, 256))
	for rows.Next() {
		var e Environment
		var provisionStarted, ready, destroyRequested, destroyed sql.NullTime
		var rto, rpo sql.NullInt64
		err := rows.Scan(&e.ID, &e.Name, &e.Owner, &e.Team, &e.TemplateName, &e.Version, &e.VersionID, &e.Kind, &e.Provider,
			&e.Params, &e.Secrets, &e.SecretNames, &e.Status, &e.StatusReason, &e.FailureReason, &e.Outputs, &e.Facts, &e.Handle,
			&e.CreatedAt, &e.UpdatedAt, &provisionStarted, &ready, &e.ExpiresAt, &e.MaxExpiresAt,
			&destroyRequested, &destroyed, &rto, &rpo, &e.ProvisionAttempt)
		if err != nil {
			return nil, err
		}
		e.ProvisionStartedAt = nullTime(provisionStarted)
		e.ReadyAt = nullTime(ready)
		e.DestroyRequestedAt = nullTime(destroyRequested)
		e.DestroyedAt = nullTime(destroyed)
		e.RTOMillis = nullInt(rto)
		e.RPOMillis = nullInt(rpo)
		out = append(out, e)
	}
	return out, rows.Err()
}

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	return &t.Time
}

func nullInt(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	return &n.Int64
}

// eventColumns are Event's columns in the order scanEvents reads them.
const eventColumns = "id, environment_id, at, kind, status, message, actor"

// scanEvents reads rows of eventColumns, and closes them.
func scanEvents(rows *sql.Rows, capacity int) ([]Event, error) {
	defer rows.Close()
	out := make([]Event, 0, min(capacity, 256))
	for rows.Next() {
		var ev Event
		if err := rows.Scan(&ev.ID, &ev.EnvironmentID, &ev.At, &ev.Kind, &ev.Status, &ev.Message, &ev.Actor); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}
