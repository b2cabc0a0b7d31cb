-- Queries only the benchmark uses: bulk seeding and load sampling.

-- name: BenchSeedOrganizations :exec
WITH o AS (
    INSERT INTO organizations (name)
    SELECT @prefix::TEXT || g FROM generate_series(1, @n::INT) AS g
    RETURNING id
)
INSERT INTO organization_queues (organization_id) SELECT id FROM o;

-- name: BenchSeedWorkspaces :exec
INSERT INTO workspaces (organization_id, name)
SELECT o.id, 'ws-' || g
FROM organizations o, generate_series(1, @per_org::INT) AS g
WHERE o.name LIKE @prefix::TEXT || '%';

-- name: BenchOrganizationLoad :many
-- Organizations with jobs running or waiting for a platform agent, each
-- with its load, read through indexes only: the running jobs and the
-- claim's ranking, not every organization.
WITH active AS (
    SELECT j.organization_id FROM jobs j WHERE j.status = 'running'
    UNION
    SELECT oq.organization_id FROM organization_queues oq WHERE oq.waiting_since IS NOT NULL AND NOT oq.at_cap
)
SELECT o.id, o.weight, o.running,
    (SELECT count(*) FROM runs r
     WHERE r.organization_id = o.id AND r.status IN ('plan_queued', 'apply_queued') AND r.agent_pool_id IS NULL)::INT AS queued
FROM active a
JOIN organizations o ON o.id = a.organization_id;

-- name: BenchStatsReset :exec
-- Zeroes this database's table and index counters (superuser).
SELECT pg_stat_reset();

-- name: BenchStatsTotals :one
-- Rows and index entries read and written in this database's tables since
-- the last reset, as far as the backends have reported them. A
-- key-value store such as CockroachDB reads about one key per row or index
-- entry read here, and writes one per row and one per index entry a write
-- inserts or removes; partial indexes skip some rows, so entries_written is
-- an upper bound.
SELECT COALESCE(sum(t.seq_tup_read + COALESCE(t.idx_tup_fetch, 0)), 0)::BIGINT AS rows_read,
    COALESCE((SELECT sum(i.idx_tup_read) FROM pg_stat_user_indexes i), 0)::BIGINT AS entries_read,
    COALESCE(sum(t.n_tup_ins + t.n_tup_upd + t.n_tup_del), 0)::BIGINT AS rows_written,
    COALESCE(sum((t.n_tup_ins + t.n_tup_upd - t.n_tup_hot_upd + t.n_tup_del)
        * (SELECT count(*) FROM pg_stat_user_indexes i WHERE i.relid = t.relid)), 0)::BIGINT AS entries_written
FROM pg_stat_user_tables t;

-- name: BenchStatsTopTables :many
-- The tables read most since the last reset: rows plus index entries.
SELECT t.relname::TEXT AS table_name,
    (t.seq_tup_read + COALESCE(t.idx_tup_fetch, 0)
        + COALESCE((SELECT sum(i.idx_tup_read) FROM pg_stat_user_indexes i WHERE i.relid = t.relid), 0))::BIGINT AS read
FROM pg_stat_user_tables t
ORDER BY read DESC
LIMIT @max_rows;

-- name: BenchAnalyze :exec
-- Planner statistics for freshly seeded tables, as autovacuum keeps them
-- in a long-lived database.
ANALYZE;

-- name: BenchTransactions :one
-- Transactions this database has committed or rolled back since the last reset.
SELECT (xact_commit + xact_rollback)::BIGINT FROM pg_stat_database WHERE datname = current_database();

-- name: BenchRunWaits :many
-- Every run's waits for an agent, eligible (queued) to claimed, in
-- milliseconds; -1 for a phase it did not reach.
SELECT r.organization_id, r.triggered,
    COALESCE(1000 * EXTRACT(EPOCH FROM (r.status_timestamps ->> 'planning')::TIMESTAMPTZ - (r.status_timestamps ->> 'plan_queued')::TIMESTAMPTZ), -1)::FLOAT8 AS plan_wait_ms,
    COALESCE(1000 * EXTRACT(EPOCH FROM (r.status_timestamps ->> 'applying')::TIMESTAMPTZ - (r.status_timestamps ->> 'apply_queued')::TIMESTAMPTZ), -1)::FLOAT8 AS apply_wait_ms,
    r.status
FROM runs r;
