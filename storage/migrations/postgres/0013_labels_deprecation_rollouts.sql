-- Labels on environments (pr=123, commit=abc), set at launch. labels is
-- their JSON, read with the row; environment_labels holds them once more,
-- one row a label, for the label filter (an index on key and value on
-- both databases, where a JSON column would need a dialect's own index).
ALTER TABLE environments ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
CREATE TABLE environment_labels (
    environment_id TEXT NOT NULL REFERENCES environments(id),
    key            TEXT NOT NULL,
    value          TEXT NOT NULL,
    PRIMARY KEY (environment_id, key)
);
CREATE INDEX environment_labels_key_value ON environment_labels (key, value, environment_id);

-- A deprecation may set a date after which the version's environments are
-- replaced with the newest version or destroyed (action replace or
-- destroy; '' with no date). deprecation_done_at: when the scheduled job
-- acted on them.
ALTER TABLE template_versions ADD COLUMN deprecation_date TIMESTAMPTZ;
ALTER TABLE template_versions ADD COLUMN deprecation_action TEXT NOT NULL DEFAULT '';
ALTER TABLE template_versions ADD COLUMN deprecation_done_at TIMESTAMPTZ;
CREATE INDEX template_versions_deprecation_due ON template_versions (deprecation_date) WHERE deprecation_date IS NOT NULL AND deprecation_done_at IS NULL;

-- The catalog's per-version counts of live environments, one grouped query.
CREATE INDEX environments_version_live ON environments (version_id) WHERE status <> 'destroyed';

-- Rollouts: a version rolled out to a template's environments on other
-- versions, in waves. The rows are the source of truth; a River job per
-- rollout drives them (see envs/rollout.go).
CREATE TABLE rollouts (
    id            TEXT PRIMARY KEY,
    template_name TEXT NOT NULL REFERENCES templates(name),
    version       TEXT NOT NULL,
    filter        TEXT NOT NULL DEFAULT '{}',
    wave_size     INTEGER NOT NULL,
    concurrency   INTEGER NOT NULL,
    status        TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    created_by    TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ
);
CREATE INDEX rollouts_template ON rollouts (template_name, created_at);

CREATE TABLE rollout_items (
    rollout_id     TEXT NOT NULL REFERENCES rollouts(id),
    environment_id TEXT NOT NULL REFERENCES environments(id),
    from_version   TEXT NOT NULL,
    wave           INTEGER NOT NULL,
    state          TEXT NOT NULL,
    reason         TEXT NOT NULL DEFAULT '',
    started_at     TIMESTAMPTZ,
    finished_at    TIMESTAMPTZ,
    PRIMARY KEY (rollout_id, environment_id)
);
