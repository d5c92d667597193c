-- Drift detection (see docs/decisions.md). A version says how often the
-- stacks of its environments are checked against what it declares
-- (drift_interval in nanoseconds, like default_ttl; 0: only on demand) and
-- what to do when one drifted (drift_remedy: manual or replace). Versions
-- published before it get the defaults: daily, manual.
ALTER TABLE template_versions ADD COLUMN drift_interval BIGINT NOT NULL DEFAULT 86400000000000;
ALTER TABLE template_versions ADD COLUMN drift_remedy TEXT NOT NULL DEFAULT 'manual';

-- One row per environment whose stack is or was checked: the last
-- result, the last failure, the next scheduled check and a check queued
-- or running (requested_at; requests counts the requests, so a check
-- learns that another came while it ran). handle is the stack the row is
-- about: a row about another stack than the environment's (a replaced
-- one) is stale.
CREATE TABLE environment_drift (
    environment_id TEXT PRIMARY KEY REFERENCES environments(id),
    handle         TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL DEFAULT '',
    checked_at     TIMESTAMPTZ,
    drifted_since  TIMESTAMPTZ,
    items          TEXT NOT NULL DEFAULT '[]',
    error          TEXT NOT NULL DEFAULT '',
    error_at       TIMESTAMPTZ,
    due_at         TIMESTAMPTZ,
    requested_at   TIMESTAMPTZ,
    requested_by   TEXT NOT NULL DEFAULT '',
    requests       INTEGER NOT NULL DEFAULT 0
);
-- The scheduler's scan: the checks that are due, soonest first.
CREATE INDEX environment_drift_due ON environment_drift (due_at) WHERE due_at IS NOT NULL;
-- The drifted filter and the gauge.
CREATE INDEX environment_drift_state ON environment_drift (state) WHERE state = 'drifted';
