-- A failed launch keeps its environment, status failed with its reason,
-- timeline and logs, while its stack is cleaned up: stack_cleaned_at is when
-- the clean-up finished (NULL while the stack may exist), stack_held_until
-- until when the template keeps a failed stack for debugging before it is
-- cleaned up (NULL: not held). The environment leaves failed when it is
-- destroyed or its TTL runs out.
ALTER TABLE environments ADD COLUMN stack_cleaned_at TIMESTAMPTZ;
ALTER TABLE environments ADD COLUMN stack_held_until TIMESTAMPTZ;
-- A version's on_failure.keep_stack, in nanoseconds like default_ttl; 0:
-- a failed stack is cleaned up at once.
ALTER TABLE template_versions ADD COLUMN keep_failed_stack BIGINT NOT NULL DEFAULT 0;
-- Names are unique among live environments (pending, provisioning, ready),
-- as the launch form says: a failed launch now stays listed until it is
-- dismissed or expires, and must not keep its name from the next try.
-- Stacks are named after the environment's id, never only its name.
DROP INDEX environments_live_name;
CREATE UNIQUE INDEX environments_live_name ON environments (name) WHERE status IN ('pending', 'provisioning', 'ready');
