-- Quotas, approvals past them, and cost (issue 13, items 5 and 6).
--
-- A version's cost estimate (JSON: hourly rate and per-parameter rates in
-- micro-dollars; '' for none). An environment keeps the hourly rate it was
-- launched at, so sums (quotas, the cost pages) need no template, and why
-- it was destroyed by a policy ('expired': the reaper, 'inactive': the
-- inactivity policy, '': anything else), for the savings page.
ALTER TABLE template_versions ADD COLUMN cost TEXT NOT NULL DEFAULT '';
ALTER TABLE environments ADD COLUMN hourly_cost_micros BIGINT NOT NULL DEFAULT 0;
ALTER TABLE environments ADD COLUMN destroy_cause TEXT NOT NULL DEFAULT '';
CREATE INDEX environments_destroy_cause ON environments (destroy_cause, destroy_requested_at) WHERE destroy_cause <> '';

-- Limits per user (by name) or per team; the name '*' is every user's or
-- every team's default. NULL: no limit of that kind.
CREATE TABLE quotas (
    scope              TEXT NOT NULL,
    name               TEXT NOT NULL,
    max_live           INTEGER,
    max_monthly_micros BIGINT,
    updated_by         TEXT NOT NULL DEFAULT '',
    updated_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, name)
);

-- A request to launch or extend past a limit, and an admin's decision.
-- request is the sealed JSON of the launch request (its parameters may be
-- secrets); actor is the requester as they were (role, teams), so that an
-- approved launch runs with their rights, not the approver's.
CREATE TABLE quota_approvals (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    status         TEXT NOT NULL,
    requester      TEXT NOT NULL,
    requester_id   TEXT NOT NULL DEFAULT '',
    actor          TEXT NOT NULL DEFAULT '{}',
    team           TEXT NOT NULL DEFAULT '',
    template_name  TEXT NOT NULL DEFAULT '',
    environment_id TEXT NOT NULL DEFAULT '',
    ttl            TEXT NOT NULL DEFAULT '',
    request        BYTEA,
    limit_text     TEXT NOT NULL DEFAULT '',
    reason         TEXT NOT NULL DEFAULT '',
    cost_micros    BIGINT NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ NOT NULL,
    decided_by     TEXT NOT NULL DEFAULT '',
    decided_at     TIMESTAMPTZ,
    result         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX quota_approvals_status ON quota_approvals (status, created_at);
