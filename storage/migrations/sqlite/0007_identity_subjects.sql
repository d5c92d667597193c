-- Users are known by their identity provider and subject, never by e-mail:
-- (issuer, subject) is unique, not subject alone. Rows from before have an
-- empty issuer; the first sign-in with their subject adopts them.
--
-- SQLite cannot drop a UNIQUE constraint in place, so users is rebuilt.
-- sessions and api_tokens reference it and foreign keys are on; PRAGMA
-- foreign_keys cannot change inside the migration's transaction, but
-- defer_foreign_keys can: dropping users leaves their sessions and tokens
-- dangling until the end of the transaction, and putting every row back
-- into the new users table (same ids) resolves them before the commit
-- checks. A row lost on the way would fail the commit, not go unnoticed.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE users_before_0007 AS SELECT * FROM users;
DROP TABLE users;
CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    issuer           TEXT NOT NULL DEFAULT '',
    subject          TEXT NOT NULL,
    email            TEXT NOT NULL DEFAULT '',
    -- The provider said email_verified: false. Such an address is shown
    -- flagged and never used as the user's name.
    email_unverified BOOLEAN NOT NULL DEFAULT 0,
    name             TEXT NOT NULL DEFAULT '',
    groups_json      TEXT NOT NULL DEFAULT '[]',
    role             TEXT NOT NULL,
    teams            TEXT NOT NULL DEFAULT '',
    created_at       DATETIME NOT NULL,
    last_login_at    DATETIME NOT NULL,
    -- Membership re-checks (role and teams from the provider's groups):
    -- the refresh and access tokens of the last sign-in, sealed with the
    -- secret key; when the provider last confirmed the role (sign-in or
    -- re-check); the last attempt, its result (ok, refused, unreachable,
    -- signin_needed) and detail; and the replica checking right now (a
    -- claim, so a refresh token is never used twice at once).
    idp_grant        BLOB,
    confirmed_at     DATETIME,
    check_at         DATETIME,
    check_result     TEXT NOT NULL DEFAULT '',
    check_detail     TEXT NOT NULL DEFAULT '',
    check_claim      TEXT NOT NULL DEFAULT '',
    check_claim_until DATETIME,
    UNIQUE (issuer, subject)
);
-- A user's role was last confirmed at their last sign-in.
INSERT INTO users (id, issuer, subject, email, name, groups_json, role, teams, created_at, last_login_at, confirmed_at)
    SELECT id, '', subject, email, name, groups_json, role, teams, created_at, last_login_at, last_login_at FROM users_before_0007;
DROP TABLE users_before_0007;

-- Environments record their owner's user id: ownership is decided by id,
-- the owner column stays the name people read. Existing rows get the id
-- where exactly one user had that name (the e-mail address, or the subject
-- when there was none); the others, and environments of local mode and of
-- the system, keep an empty id: only administrators act on them.
ALTER TABLE environments ADD COLUMN owner_id TEXT NOT NULL DEFAULT '';
UPDATE environments SET owner_id = (
        SELECT u.id FROM users u WHERE (CASE WHEN u.email <> '' THEN u.email ELSE u.subject END) = environments.owner)
    WHERE (SELECT COUNT(*) FROM users u WHERE (CASE WHEN u.email <> '' THEN u.email ELSE u.subject END) = environments.owner) = 1;

-- An API token acts with at most this role (and never more than its
-- owner's current role). Existing tokens are capped at their owner's role.
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT '';
UPDATE api_tokens SET role = (SELECT u.role FROM users u WHERE u.id = api_tokens.user_id);

-- Who acted, beyond the name shown: the user's id, issuer and subject.
ALTER TABLE audit_log ADD COLUMN actor_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN actor_issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN actor_subject TEXT NOT NULL DEFAULT '';
