-- Queries only the benchmark uses: bulk seeding and load sampling.

-- name: BenchSeedOrganizations :exec
INSERT INTO organizations (name)
SELECT @prefix::TEXT || g FROM generate_series(1, @n::INT) AS g;

-- name: BenchSeedWorkspaces :exec
INSERT INTO workspaces (organization_id, name)
SELECT o.id, 'ws-' || g
FROM organizations o, generate_series(1, @per_org::INT) AS g
WHERE o.name LIKE @prefix::TEXT || '%';

-- name: BenchOrganizationLoad :many
SELECT o.id, o.weight, o.running,
    (SELECT count(*) FROM runs r WHERE r.organization_id = o.id AND r.status IN ('plan_queued', 'apply_queued'))::INT AS queued
FROM organizations o
WHERE o.running > 0 OR o.id IN (SELECT organization_id FROM waiting_organizations);
