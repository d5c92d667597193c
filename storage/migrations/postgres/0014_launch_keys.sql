-- Idempotency keys of launches (the API's Idempotency-Key header), per
-- owner: the launch a key made and an HMAC of the request it came with, so
-- a re-run with the same key answers with that environment and a different
-- request under the same key is refused. Written in the launch's
-- transaction; swept once older than a day (see envs/launch_keys.go).
CREATE TABLE launch_keys (
    owner_id       TEXT NOT NULL,
    key            TEXT NOT NULL,
    digest         TEXT NOT NULL,
    environment_id TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (owner_id, key)
);
CREATE INDEX launch_keys_created_at ON launch_keys (created_at);
