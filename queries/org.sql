-- Organizations and their tokens (internal/org).

-- name: OrganizationCreate :one
-- With its row in the claim's ranking (organization_queues), empty, and
-- its owners team.
WITH o AS (
    INSERT INTO organizations (name, max_concurrency, weight)
    VALUES (@name, @max_concurrency, @weight)
    RETURNING *
), q AS (
    INSERT INTO organization_queues (organization_id) SELECT o.id FROM o
), t AS (
    INSERT INTO teams (organization_id, name, owners) SELECT o.id, 'owners', true FROM o
)
SELECT * FROM o;

-- name: OrganizationGetByName :one
SELECT * FROM organizations WHERE name = @name;

-- name: OrganizationUpdateLimits :one
-- The claim's ranking follows the new weight and cap (written blind, as
-- queries/run.sql explains).
WITH o AS (
    UPDATE organizations SET
        max_concurrency = @max_concurrency, weight = @weight::INT,
        bucket_burst = @bucket_burst::INT, bucket_refill_per_second = @bucket_refill_per_second,
        tokens = LEAST(tokens, (@bucket_burst::INT)::FLOAT8)
    WHERE name = @name
    RETURNING *
), q AS (
    INSERT INTO organization_queues AS oq (organization_id, share, at_cap)
    SELECT o.id, o.running::FLOAT8 / o.weight, o.running >= o.max_concurrency FROM o
    ON CONFLICT (organization_id) DO UPDATE SET share = excluded.share, at_cap = excluded.at_cap
)
SELECT * FROM o;

-- name: OrganizationCountQueued :one
SELECT count(*)::INT FROM runs
WHERE organization_id = @organization_id AND status IN ('plan_queued', 'apply_queued');

-- name: TokenCreate :one
INSERT INTO tokens (organization_id, description, role, secret_hash, workspace_id, run_id, expires_at, job_id, created_by, user_id, team_id)
VALUES (@organization_id, @description, sqlc.narg(role), @secret_hash, sqlc.narg(workspace_id), sqlc.narg(run_id), sqlc.narg(expires_at), sqlc.narg(job_id), sqlc.narg(created_by), sqlc.narg(user_id), sqlc.narg(team_id))
RETURNING id, organization_id, description, role, created_at, expires_at, user_id, team_id;

-- People's and programs' tokens: not job credentials, which are scoped.

-- name: TokenList :many
SELECT id, description, role, created_at, expires_at, created_by, user_id, team_id FROM tokens
WHERE organization_id = @organization_id AND workspace_id IS NULL AND job_id IS NULL AND revoked_at IS NULL
ORDER BY created_at, id
LIMIT @max_rows;

-- name: TokenGet :one
SELECT id, description, role, created_at, expires_at, created_by, user_id, team_id FROM tokens
WHERE id = @id AND organization_id = @organization_id AND workspace_id IS NULL AND job_id IS NULL AND revoked_at IS NULL;

-- name: TokenRevoke :execrows
UPDATE tokens SET revoked_at = now()
WHERE id = @id AND organization_id = @organization_id AND workspace_id IS NULL AND job_id IS NULL AND revoked_at IS NULL;

-- name: TokenRevokeByDescription :many
UPDATE tokens SET revoked_at = now()
WHERE organization_id = @organization_id AND description = @description
    AND workspace_id IS NULL AND job_id IS NULL AND revoked_at IS NULL AND id <> @keep
RETURNING id;

-- name: TokenGetBySecretHash :one
-- An expired token is as good as none, and so is a job credential whose job
-- was reaped, finished or handed on: a zombie agent's terraform cannot
-- touch state. One exception keeps an interrupted apply's work: the lost
-- apply's credential lives while its workspace stays locked for its run.
SELECT t.id, t.organization_id, t.role, t.workspace_id, t.run_id, t.user_id, t.team_id, o.name AS organization_name
FROM tokens t
JOIN organizations o ON o.id = t.organization_id
LEFT JOIN jobs j ON j.id = t.job_id
LEFT JOIN workspaces w ON w.id = j.workspace_id
WHERE t.secret_hash = @secret_hash
    AND t.revoked_at IS NULL
    AND (t.expires_at IS NULL OR t.expires_at > now())
    AND (t.job_id IS NULL OR j.status = 'running'
        OR (j.status = 'lost' AND j.phase = 'apply' AND w.locked_for_run_id = j.run_id));

-- name: OrganizationList :many
-- Organizations by name, after a cursor name: the site admin's list.
SELECT * FROM organizations WHERE name > @after_name ORDER BY name LIMIT @max_rows;

-- Agent pools (internal/org): an organization's own agents and their token.

-- name: AgentPoolCreate :one
INSERT INTO agent_pools (organization_id, name, token_hash)
VALUES (@organization_id, @name, @token_hash)
RETURNING id, organization_id, name, created_at;

-- name: AgentPoolList :many
SELECT p.id, p.organization_id, p.name, p.created_at,
    (SELECT count(*) FROM workspaces w WHERE w.agent_pool_id = p.id AND w.deleted_at IS NULL)::INT AS workspaces
FROM agent_pools p
WHERE p.organization_id = @organization_id
ORDER BY p.name;

-- name: AgentPoolGetByTokenHash :one
SELECT id, organization_id, name, created_at FROM agent_pools WHERE token_hash = @token_hash;

-- name: AgentPoolDelete :execrows
-- Only a pool no workspace names (deleted ones awaiting purge included)
-- and no queued run waits for.
DELETE FROM agent_pools p
WHERE p.id = @id AND p.organization_id = @organization_id
  AND NOT EXISTS (SELECT 1 FROM workspaces w WHERE w.agent_pool_id = p.id)
  AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.agent_pool_id = p.id AND r.status IN ('plan_queued', 'apply_queued'));

-- name: AgentPoolExists :one
SELECT EXISTS (SELECT 1 FROM agent_pools WHERE id = @id AND organization_id = @organization_id)::BOOL;
