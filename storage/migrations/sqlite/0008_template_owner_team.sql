-- The team that owns a template name: only its members and administrators
-- may publish or deprecate its versions. It is set at the first publish,
-- from the version's owner field, and changed only by an administrator's
-- publish. Templates published before it are owned by the owner their
-- latest publish named (owner, which every publish rewrites, stays the
-- descriptive copy it was).
ALTER TABLE templates ADD COLUMN owner_team TEXT NOT NULL DEFAULT '';
UPDATE templates SET owner_team = owner;
