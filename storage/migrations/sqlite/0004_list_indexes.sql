-- Environment listings are pages in (created_at, id) order, newest first,
-- continued from a cursor (keyset pagination). These indexes serve that
-- order, so no listing sorts the table to keep one page:
-- every environment, the ones not destroyed (the page's default "live"
-- tab; a partial index, as most rows end up destroyed), and one status.
DROP INDEX environments_created;
CREATE INDEX environments_created ON environments (created_at, id);
CREATE INDEX environments_undestroyed_created ON environments (created_at, id) WHERE status <> 'destroyed';
CREATE INDEX environments_status_created ON environments (status, created_at, id);
