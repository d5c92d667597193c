-- Replace and rollback (see docs/decisions.md 80-89). An environment may
-- have several stacks over its life: the one in service (its handle and
-- outputs are the environment's), a candidate being built from another
-- version, a standby kept after a replace for an instant rollback, and
-- the ones destroyed. stack_id on an environment is the stack in service
-- ('' : its first stack, whose id is the environment's, from before any
-- replace); stack_id on an event is the stack the event is about ('' :
-- the environment's first stack, or none in particular).
CREATE TABLE stacks (
    id             TEXT PRIMARY KEY,
    environment_id TEXT NOT NULL REFERENCES environments(id),
    version        TEXT NOT NULL,
    version_id     INTEGER NOT NULL,
    handle         TEXT NOT NULL DEFAULT '',
    -- building, in_service, standby, destroying, destroyed, failed
    status         TEXT NOT NULL,
    reason         TEXT NOT NULL DEFAULT '',
    params         TEXT NOT NULL DEFAULT '{}',
    secrets        BLOB,
    secret_names   TEXT NOT NULL DEFAULT '',
    outputs        TEXT NOT NULL DEFAULT '{}',
    facts          TEXT NOT NULL DEFAULT '{}',
    -- A replace's candidate: the stack it replaces, the version it
    -- replaces, who asked and why; '' for an environment's first stack.
    replaces       TEXT NOT NULL DEFAULT '',
    from_version   TEXT NOT NULL DEFAULT '',
    requested_by   TEXT NOT NULL DEFAULT '',
    request_reason TEXT NOT NULL DEFAULT '',
    attempt        INTEGER NOT NULL DEFAULT 1,
    created_at     DATETIME NOT NULL,
    updated_at     DATETIME NOT NULL,
    requested_at   DATETIME,
    ready_at       DATETIME,
    switched_at    DATETIME,
    failed_at      DATETIME,
    standby_until  DATETIME,
    destroyed_at   DATETIME
);
-- An environment's stacks, and at most one candidate at a time.
CREATE INDEX stacks_environment ON stacks (environment_id, created_at);
CREATE UNIQUE INDEX stacks_one_building ON stacks (environment_id) WHERE status = 'building';
-- The orphan sweep looks stacks up by handle.
CREATE INDEX stacks_handle ON stacks (handle) WHERE handle <> '';

ALTER TABLE environments ADD COLUMN stack_id TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN stack_id TEXT NOT NULL DEFAULT '';
-- rollback.grace: how long the old stack is kept after a replace, for an
-- instant rollback (nanoseconds, like default_ttl; 0: the server's
-- --rollback-grace; negative: not kept, destroyed at once).
ALTER TABLE template_versions ADD COLUMN rollback_grace INTEGER NOT NULL DEFAULT 0;
