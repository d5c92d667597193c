-- Notification channels (issue 13, item 2). A channel is a person's
-- (scope 'user', owner: their user id) or a team's (scope 'team', owner:
-- the team's name): a signed webhook, a Slack-compatible webhook or an
-- e-mail address. target is what may be shown (the webhook's URL, the
-- address; for Slack only its host); secret is sealed with the secret key
-- (the webhook's signing secret, Slack's whole URL, which is a
-- credential). events is a comma-separated list of the notice events the
-- channel hears ('': every event).
CREATE TABLE notify_channels (
    id         TEXT PRIMARY KEY,
    scope      TEXT NOT NULL,
    owner      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    target     TEXT NOT NULL DEFAULT '',
    secret     BYTEA,
    events     TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX notify_channels_owner ON notify_channels (scope, owner);

-- The delivery log: one row per attempt to deliver a notice to a channel
-- (the admin page shows the newest). status_code is the receiver's HTTP
-- answer (0: none, or e-mail); error is '' on success.
CREATE TABLE notify_deliveries (
    id             TEXT PRIMARY KEY,
    notice_id      TEXT NOT NULL,
    channel_id     TEXT NOT NULL,
    scope          TEXT NOT NULL DEFAULT '',
    owner          TEXT NOT NULL DEFAULT '',
    kind           TEXT NOT NULL,
    target         TEXT NOT NULL DEFAULT '',
    event          TEXT NOT NULL,
    environment_id TEXT NOT NULL DEFAULT '',
    attempt        INTEGER NOT NULL,
    final          BOOLEAN NOT NULL DEFAULT FALSE,
    ok             BOOLEAN NOT NULL DEFAULT FALSE,
    status_code    INTEGER NOT NULL DEFAULT 0,
    error          TEXT NOT NULL DEFAULT '',
    at             TIMESTAMPTZ NOT NULL
);
CREATE INDEX notify_deliveries_at ON notify_deliveries (at);
CREATE INDEX notify_deliveries_notice ON notify_deliveries (notice_id, channel_id);
