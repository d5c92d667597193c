-- When the destroy job stopped retrying a destroy_failed environment (its
-- attempts or its timeout ran out), leaving it for an admin's retry; NULL
-- while it still retries. A new destroy request clears it.
ALTER TABLE environments ADD COLUMN destroy_given_up_at TIMESTAMPTZ;
