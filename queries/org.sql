-- Organizations and their tokens (internal/org).

-- name: OrganizationCreate :one
INSERT INTO organizations (name, max_concurrency, weight)
VALUES (@name, @max_concurrency, @weight)
RETURNING *;

-- name: OrganizationGetByName :one
SELECT * FROM organizations WHERE name = @name;

-- name: OrganizationUpdateLimits :one
UPDATE organizations SET
    max_concurrency = @max_concurrency, weight = @weight::INT,
    bucket_burst = @bucket_burst::INT, bucket_refill_per_second = @bucket_refill_per_second,
    tokens = LEAST(tokens, (@bucket_burst::INT)::FLOAT8)
WHERE name = @name
RETURNING *;

-- name: OrganizationCountQueued :one
SELECT count(*)::INT FROM runs
WHERE organization_id = @organization_id AND status IN ('plan_queued', 'apply_queued');

-- name: TokenCreate :one
INSERT INTO tokens (organization_id, description, role, secret_hash, workspace_id, run_id, expires_at, job_id)
VALUES (@organization_id, @description, @role, @secret_hash, sqlc.narg(workspace_id), sqlc.narg(run_id), sqlc.narg(expires_at), sqlc.narg(job_id))
RETURNING id, organization_id, description, role, created_at;

-- name: TokenGetBySecretHash :one
-- An expired token is as good as none, and so is a job credential whose job
-- was reaped, finished or handed on: a zombie agent's terraform cannot
-- touch state. One exception keeps an interrupted apply's work: the lost
-- apply's credential lives while its workspace stays locked for its run.
SELECT t.id, t.organization_id, t.role, t.workspace_id, t.run_id, o.name AS organization_name
FROM tokens t
JOIN organizations o ON o.id = t.organization_id
LEFT JOIN jobs j ON j.id = t.job_id
LEFT JOIN workspaces w ON w.id = j.workspace_id
WHERE t.secret_hash = @secret_hash
    AND (t.expires_at IS NULL OR t.expires_at > now())
    AND (t.job_id IS NULL OR j.status = 'running'
        OR (j.status = 'lost' AND j.phase = 'apply' AND w.locked_for_run_id = j.run_id));

-- name: OrganizationList :many
-- Organizations by name, after a cursor name: the site admin's list.
SELECT * FROM organizations WHERE name > @after_name ORDER BY name LIMIT @max_rows;
