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
SELECT o.id, o.weight, o.running,
    (SELECT count(*) FROM runs r WHERE r.organization_id = o.id AND r.status IN ('plan_queued', 'apply_queued'))::INT AS queued
FROM organizations o
JOIN organization_queues oq ON oq.organization_id = o.id
WHERE o.running > 0 OR oq.waiting_since IS NOT NULL;
