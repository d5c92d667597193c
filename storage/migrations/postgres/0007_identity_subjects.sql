-- The same as migrations/sqlite/0007_identity_subjects.sql, in PostgreSQL
-- types; PostgreSQL changes the constraint in place, no rebuild needed.
--
-- Users are known by their identity provider and subject, never by e-mail:
-- (issuer, subject) is unique, not subject alone. Rows from before have an
-- empty issuer; the first sign-in with their subject adopts them.
ALTER TABLE users ADD COLUMN issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE users DROP CONSTRAINT users_subject_key;
ALTER TABLE users ADD CONSTRAINT users_issuer_subject_key UNIQUE (issuer, subject);
-- The provider said email_verified: false. Such an address is shown
-- flagged and never used as the user's name.
ALTER TABLE users ADD COLUMN email_unverified BOOLEAN NOT NULL DEFAULT FALSE;
-- Membership re-checks (role and teams from the provider's groups): the
-- refresh and access tokens of the last sign-in, sealed with the secret
-- key; when the provider last confirmed the role (sign-in or re-check);
-- the last attempt, its result (ok, refused, unreachable, signin_needed)
-- and detail; and the replica checking right now (a claim, so a refresh
-- token is never used twice at once).
ALTER TABLE users ADD COLUMN idp_grant BYTEA;
ALTER TABLE users ADD COLUMN confirmed_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN check_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN check_result TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN check_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN check_claim TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN check_claim_until TIMESTAMPTZ;
-- A user's role was last confirmed at their last sign-in.
UPDATE users SET confirmed_at = last_login_at;

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
