-- The environment's provision attempt (1 for the first): cloud providers
-- derive CreateStack's idempotency token from it. It moves on only when an
-- attempt failed and the launch is retried, never on a re-run of the same
-- attempt (a crash mid-call, a re-scheduled poll).
ALTER TABLE environments ADD COLUMN provision_attempt INTEGER NOT NULL DEFAULT 1;
