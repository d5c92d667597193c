-- Relaunch ("launch again"): the environment a new one was relaunched from
-- ('' for an ordinary launch), and the snapshot it must restore instead of
-- the latest ('' for the latest): the one its source restored, when it was
-- relaunched "from the same snapshot". The provision job hands it to the
-- provider, which fails the launch when that snapshot is gone.
ALTER TABLE environments ADD COLUMN relaunched_from TEXT NOT NULL DEFAULT '';
ALTER TABLE environments ADD COLUMN pinned_snapshot TEXT NOT NULL DEFAULT '';
