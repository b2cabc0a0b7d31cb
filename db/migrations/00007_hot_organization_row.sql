-- +goose Up
-- Every claim and every finish writes its organization's row. On
-- PostgreSQL an update that changes an indexed column inserts new entries
-- into every index of the table, the primary key included, and
-- SERIALIZABLE then sees a read/write conflict between that insert and
-- every transaction that read any organization on the same index page: on
-- a busy machine most claims, finishes and run creates aborted one another
-- whatever their organization. So the row keeps only what the claim must
-- lock and spend (running, the bucket), no index covers those columns, and
-- free space on each page lets the update stay on its page (a HOT update,
-- no index entry). Which organizations have waiting jobs, and since when,
-- is read from the runs' own index instead of counters kept beside them.
-- (Counting running jobs from an index instead of the counter was tried:
-- that index is small, so every claim's read of it conflicted with every
-- other claim's insert, whatever the organization.)
DROP INDEX organizations_claim_order;
ALTER TABLE organizations DROP COLUMN queued;
ALTER TABLE organizations DROP COLUMN share;
ALTER TABLE organizations DROP COLUMN queued_since;
ALTER TABLE organizations SET (fillfactor = 50);
-- Run creation bumps the workspace's run number: the same reasoning.
ALTER TABLE workspaces SET (fillfactor = 50);

-- Organizations with waiting jobs (skip scan) and each one's oldest.
CREATE INDEX runs_queued_by_organization ON runs (organization_id, queued_at)
    WHERE status IN ('plan_queued', 'apply_queued');

-- Organizations with jobs waiting for an agent, and since when: a skip scan
-- of runs_queued_by_organization, one index probe per such organization
-- however many jobs each has waiting.
CREATE VIEW waiting_organizations AS
WITH RECURSIVE waiting (organization_id) AS (
    (SELECT organization_id FROM runs
     WHERE status IN ('plan_queued', 'apply_queued')
     ORDER BY organization_id LIMIT 1)
    UNION ALL
    SELECT (SELECT r.organization_id FROM runs r
            WHERE r.status IN ('plan_queued', 'apply_queued') AND r.organization_id > w.organization_id
            ORDER BY r.organization_id LIMIT 1)
    FROM waiting w
    WHERE w.organization_id IS NOT NULL
)
SELECT w.organization_id,
    (SELECT r.queued_at FROM runs r
     WHERE r.organization_id = w.organization_id AND r.status IN ('plan_queued', 'apply_queued')
     ORDER BY r.queued_at LIMIT 1) AS waiting_since
FROM waiting w
WHERE w.organization_id IS NOT NULL;

-- +goose Down
DROP VIEW waiting_organizations;
DROP INDEX runs_queued_by_organization;
ALTER TABLE workspaces RESET (fillfactor);
ALTER TABLE organizations RESET (fillfactor);
ALTER TABLE organizations ADD COLUMN queued_since TIMESTAMPTZ;
ALTER TABLE organizations ADD COLUMN share FLOAT8 NOT NULL DEFAULT 0;
ALTER TABLE organizations ADD COLUMN queued INT NOT NULL DEFAULT 0;
UPDATE organizations o SET
    queued = (SELECT count(*) FROM runs r WHERE r.organization_id = o.id AND r.status IN ('plan_queued', 'apply_queued')),
    share = o.running::FLOAT8 / o.weight,
    queued_since = (SELECT min(queued_at) FROM runs r WHERE r.organization_id = o.id AND r.status IN ('plan_queued', 'apply_queued'));
CREATE INDEX organizations_claim_order ON organizations (share, queued_since) WHERE queued > 0;
