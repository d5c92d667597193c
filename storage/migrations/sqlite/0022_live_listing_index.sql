-- The environments page's default tab lists the live environments
-- (pending, provisioning, ready) newest first. Since failed launches stay
-- (0009) that is no longer "not destroyed", and status IN (...) in
-- (created_at, id) order was served by no index: each view sorted every
-- ready environment to keep 50 (0.6 s at 100,000 on SQLite). A partial
-- index in that order serves it; storage's liveCondition is its condition
-- word for word.
CREATE INDEX environments_live_created ON environments (created_at, id) WHERE status IN ('pending', 'provisioning', 'ready');
