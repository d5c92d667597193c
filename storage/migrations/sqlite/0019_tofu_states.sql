-- The state of each tofu stack, served to OpenTofu/Terraform through the
-- http backend (handlers/tofu_state.go): one row per stack. state and run
-- (the stack body and parameter values a destroy needs, secrets included)
-- are sealed with the secret key; the lock is what LOCK took: its id, the
-- lock info as the client sent it (shown back on 423) and who took it.
CREATE TABLE tofu_states (
    stack_id    TEXT PRIMARY KEY,
    state       BLOB,
    run         BLOB,
    lock_id     TEXT NOT NULL DEFAULT '',
    lock_info   TEXT NOT NULL DEFAULT '',
    lock_holder TEXT NOT NULL DEFAULT '',
    locked_at   DATETIME,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
);
