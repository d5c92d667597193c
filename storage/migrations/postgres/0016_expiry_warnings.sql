-- Expiry warnings and their signed one-click links (issue 13 item 1).
--
-- A version's lead times before expiry: '' the defaults (1h and 10m),
-- otherwise the JSON array of the leads in nanoseconds ('[]': none).
ALTER TABLE template_versions ADD COLUMN expiry_warnings TEXT NOT NULL DEFAULT '';

-- One row per (environment, deadline, lead): armed when the deadline is
-- set (launch, extend), claimed once by the reaper's loop (outcome '' ->
-- 'sent' or 'dropped'). While a row of an environment is pending, the
-- reaper does not expire it: no destroy without the warning attempted.
CREATE TABLE environment_warnings (
    environment_id TEXT NOT NULL,
    deadline       TIMESTAMPTZ NOT NULL,
    lead_time      BIGINT NOT NULL,
    due_at         TIMESTAMPTZ NOT NULL,
    outcome        TEXT NOT NULL DEFAULT '',
    warned_at      TIMESTAMPTZ,
    PRIMARY KEY (environment_id, deadline, lead_time)
);
CREATE INDEX environment_warnings_due ON environment_warnings (due_at) WHERE outcome = '';

-- A signed one-click link of a warning: extend, keep until max, destroy.
-- The link carries the id and an HMAC over these columns; it works once
-- (used_at) and until expires_at (the deadline it was sent for).
CREATE TABLE action_links (
    id             TEXT PRIMARY KEY,
    environment_id TEXT NOT NULL,
    action         TEXT NOT NULL,
    deadline       TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    used_at        TIMESTAMPTZ,
    used_by        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX action_links_environment ON action_links (environment_id);
