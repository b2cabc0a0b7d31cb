-- +goose Up
-- What a claim ranks organizations by, kept in a row per organization by
-- the transactions that change it (internal/run's transitions), so that a
-- claim reads the first few entries of one index however many
-- organizations have jobs waiting. Until now every claim re-ranked all of
-- them through a skip scan of the waiting runs (waiting_organizations),
-- about 5 µs per waiting organization on PostgreSQL and one KV lookup each
-- on CockroachDB.
--
-- It is a table of its own, not columns of organizations: its rank columns
-- change on every claim and finish, so its updates are not HOT and insert
-- index entries, and on PostgreSQL SSI's page-granular predicate locks make
-- such inserts conflict with every serializable transaction that read the
-- same index page (migration 00007). Nothing reads it inside a
-- transaction: the transitions write it blind (queries/run.sql) and the
-- claim ranks outside its transaction.
CREATE TABLE organization_queues (
    organization_id UUID PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    -- running / weight of the organization, as organizations.running.
    share FLOAT8 NOT NULL DEFAULT 0,
    -- running >= max_concurrency: no claim can serve it.
    at_cap BOOL NOT NULL DEFAULT false,
    -- When its oldest job waiting for a platform agent was queued (the
    -- tie-break among equal shares); NULL when none waits. Pooled runs
    -- never count: the platform's agents do not claim them.
    waiting_since TIMESTAMPTZ
) WITH (fillfactor = 50);

-- The claim's ranking: least loaded first, then waiting longest.
CREATE INDEX organization_queues_rank ON organization_queues (share, waiting_since, organization_id)
    WHERE waiting_since IS NOT NULL AND NOT at_cap;

INSERT INTO organization_queues (organization_id, share, at_cap, waiting_since)
SELECT o.id, o.running::FLOAT8 / o.weight, o.running >= o.max_concurrency,
    (SELECT r.queued_at FROM runs r
     WHERE r.organization_id = o.id AND r.status IN ('plan_queued', 'apply_queued') AND r.agent_pool_id IS NULL
     ORDER BY r.queued_at LIMIT 1)
FROM organizations o;

DROP VIEW waiting_organizations;

-- A job is running exactly while it has not finished. The calls that
-- touch one job (heartbeat, finish) test finished_at, not status: given
-- status = 'running' the planner may scan the whole partial index of
-- running jobs (jobs_lease_expiry) for the one id instead of the primary
-- key, reading every running job of the platform and predicate-locking the
-- pages every claim inserts into.
ALTER TABLE jobs ADD CONSTRAINT jobs_finished_iff_not_running CHECK ((status = 'running') = (finished_at IS NULL));

-- +goose Down
ALTER TABLE jobs DROP CONSTRAINT jobs_finished_iff_not_running;
CREATE VIEW waiting_organizations AS
WITH RECURSIVE waiting (organization_id) AS (
    (SELECT organization_id FROM runs
     WHERE status IN ('plan_queued', 'apply_queued') AND agent_pool_id IS NULL
     ORDER BY organization_id LIMIT 1)
    UNION ALL
    SELECT (SELECT r.organization_id FROM runs r
            WHERE r.status IN ('plan_queued', 'apply_queued') AND r.agent_pool_id IS NULL AND r.organization_id > w.organization_id
            ORDER BY r.organization_id LIMIT 1)
    FROM waiting w
    WHERE w.organization_id IS NOT NULL
)
SELECT w.organization_id,
    (SELECT r.queued_at FROM runs r
     WHERE r.organization_id = w.organization_id AND r.status IN ('plan_queued', 'apply_queued') AND r.agent_pool_id IS NULL
     ORDER BY r.queued_at LIMIT 1) AS waiting_since
FROM waiting w
WHERE w.organization_id IS NOT NULL;
DROP TABLE organization_queues;
