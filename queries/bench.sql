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
SELECT id, weight, queued, running FROM organizations WHERE queued > 0 OR running > 0;
