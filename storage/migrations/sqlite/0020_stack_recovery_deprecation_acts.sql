-- Each stack's own recovery figures (DR kinds): a switch (replace,
-- rollback) puts the in-service stack's on the environment, so a rollback
-- to a standby shows the standby's RTO/RPO, not the last stack's.
ALTER TABLE stacks ADD COLUMN rto_ms INTEGER;
ALTER TABLE stacks ADD COLUMN rpo_ms INTEGER;

-- What a deprecation date does to each environment of the version,
-- tried until it is done, with backoff (see envs/deprecation_acts.go):
--   state waiting   next try at next_at
--         replacing a replace was queued (stack_id); the switch or its
--                   failure moves the row on; next_at is a backstop check
--         done      replaced, or its destroy requested
--         gave_up   attempts ran out; reason says why
--         moot      the environment left the version or went away
-- attempts counts the tries made (a refused request is one too).
CREATE TABLE deprecation_acts (
    environment_id TEXT NOT NULL REFERENCES environments(id),
    version_id     INTEGER NOT NULL,
    action         TEXT NOT NULL,
    state          TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    target         TEXT NOT NULL DEFAULT '',
    stack_id       TEXT NOT NULL DEFAULT '',
    reason         TEXT NOT NULL DEFAULT '',
    next_at        DATETIME,
    tried_at       DATETIME,
    finished_at    DATETIME,
    created_at     DATETIME NOT NULL,
    updated_at     DATETIME NOT NULL,
    PRIMARY KEY (environment_id, version_id)
);
-- The sweep's query: the tries that are due.
CREATE INDEX deprecation_acts_due ON deprecation_acts (next_at) WHERE state IN ('waiting', 'replacing');
-- The switch and a failed replace find the act of their stack.
CREATE INDEX deprecation_acts_stack ON deprecation_acts (stack_id) WHERE stack_id <> '';
