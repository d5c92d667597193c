-- Templates are catalog entries; their versions are immutable.
CREATE TABLE templates (
    name        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    owner       TEXT NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
);

CREATE TABLE template_versions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    template_name    TEXT NOT NULL REFERENCES templates(name),
    version          TEXT NOT NULL,
    major            INTEGER NOT NULL,
    minor            INTEGER NOT NULL,
    patch            INTEGER NOT NULL,
    prerelease       TEXT NOT NULL DEFAULT '',
    digest           TEXT NOT NULL,
    kind             TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    owner            TEXT NOT NULL DEFAULT '',
    provider         TEXT NOT NULL,
    default_ttl      INTEGER NOT NULL,
    max_ttl          INTEGER NOT NULL,
    params           TEXT NOT NULL,
    stack            TEXT NOT NULL,
    source           TEXT NOT NULL,
    published_by     TEXT NOT NULL DEFAULT '',
    published_at     DATETIME NOT NULL,
    deprecated_at    DATETIME,
    deprecation_note TEXT NOT NULL DEFAULT '',
    UNIQUE (template_name, version)
);

CREATE TABLE environments (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    owner                TEXT NOT NULL,
    team                 TEXT NOT NULL DEFAULT '',
    template_name        TEXT NOT NULL,
    version              TEXT NOT NULL,
    version_id           INTEGER NOT NULL REFERENCES template_versions(id),
    kind                 TEXT NOT NULL,
    provider             TEXT NOT NULL,
    params               TEXT NOT NULL DEFAULT '{}',
    secrets              BLOB,
    secret_names         TEXT NOT NULL DEFAULT '',
    status               TEXT NOT NULL,
    status_reason        TEXT NOT NULL DEFAULT '',
    failure_reason       TEXT NOT NULL DEFAULT '',
    outputs              TEXT NOT NULL DEFAULT '{}',
    facts                TEXT NOT NULL DEFAULT '{}',
    handle               TEXT NOT NULL DEFAULT '',
    created_at           DATETIME NOT NULL,
    updated_at           DATETIME NOT NULL,
    provision_started_at DATETIME,
    ready_at             DATETIME,
    expires_at           DATETIME NOT NULL,
    max_expires_at       DATETIME NOT NULL,
    destroy_requested_at DATETIME,
    destroyed_at         DATETIME,
    rto_ms               INTEGER,
    rpo_ms               INTEGER
);

-- Names are unique among live environments only: a destroyed environment's
-- name can be reused.
CREATE UNIQUE INDEX environments_live_name ON environments (name) WHERE status <> 'destroyed';
-- The reaper's scan: expired environments that still have (or may have) a stack.
CREATE INDEX environments_status_expires ON environments (status, expires_at);
CREATE INDEX environments_created ON environments (created_at);

CREATE TABLE events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    environment_id TEXT NOT NULL REFERENCES environments(id),
    at             DATETIME NOT NULL,
    kind           TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT '',
    message        TEXT NOT NULL,
    actor          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_environment ON events (environment_id, id);

-- Append-only record of every state-changing action.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      DATETIME NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    result  TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
