-- Inactivity and working-hours schedules (issue 13 items 3 and 4).
--
-- A version's inactivity policy: destroyed after inactivity_idle without
-- activity, warned inactivity_warn before (0: no policy).
ALTER TABLE template_versions ADD COLUMN inactivity_idle BIGINT NOT NULL DEFAULT 0;
ALTER TABLE template_versions ADD COLUMN inactivity_warn BIGINT NOT NULL DEFAULT 0;

-- One row per environment launched since: its last activity (coalesced in
-- memory, written at most every few seconds), when it is warned and
-- destroyed for inactivity, and its schedule's next stop and start. Kept
-- out of environments so that the hot listing scan is untouched.
CREATE TABLE environment_activity (
    environment_id   TEXT PRIMARY KEY,
    idle_ttl         BIGINT NOT NULL DEFAULT 0,
    idle_warn        BIGINT NOT NULL DEFAULT 0,
    last_active_at   TIMESTAMPTZ NOT NULL,
    last_active_via  TEXT NOT NULL DEFAULT '',
    idle_warn_at     TIMESTAMPTZ,
    idle_until       TIMESTAMPTZ,
    idle_warned_at   TIMESTAMPTZ,
    -- schedule: "" follows the team's default, "off" none, else the JSON
    -- of the environment's own {stop, start, tz}.
    schedule         TEXT NOT NULL DEFAULT '',
    stop_at          TIMESTAMPTZ,
    start_at         TIMESTAMPTZ,
    stopped_at       TIMESTAMPTZ,
    relaunched_as    TEXT NOT NULL DEFAULT '',
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX environment_activity_idle_warn_at ON environment_activity (idle_warn_at) WHERE idle_warned_at IS NULL;
CREATE INDEX environment_activity_idle_until ON environment_activity (idle_until);
CREATE INDEX environment_activity_stop_at ON environment_activity (stop_at);
CREATE INDEX environment_activity_start_at ON environment_activity (start_at) WHERE relaunched_as = '';

-- A team's default working hours for its environments.
CREATE TABLE team_schedules (
    team        TEXT PRIMARY KEY,
    stop        TEXT NOT NULL,
    start       TEXT NOT NULL,
    tz          TEXT NOT NULL,
    updated_by  TEXT NOT NULL DEFAULT '',
    updated_at  TIMESTAMPTZ NOT NULL
);
