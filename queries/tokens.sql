-- name: TokenCreate :one
INSERT INTO tokens (organization_id, description, role, secret_hash, workspace_id, run_id, expires_at, job_id)
VALUES (@organization_id, @description, @role, @secret_hash, sqlc.narg(workspace_id), sqlc.narg(run_id), sqlc.narg(expires_at), sqlc.narg(job_id))
RETURNING id, organization_id, description, role, created_at;

-- name: TokenGetBySecretHash :one
-- An expired token, or a job credential whose job no longer holds a live
-- lease, is as good as none: a zombie agent's terraform cannot touch state.
SELECT t.id, t.organization_id, t.role, t.workspace_id, t.run_id, o.name AS organization_name
FROM tokens t
JOIN organizations o ON o.id = t.organization_id
LEFT JOIN jobs j ON j.id = t.job_id
WHERE t.secret_hash = @secret_hash
    AND (t.expires_at IS NULL OR t.expires_at > now())
    AND (t.job_id IS NULL OR (j.status = 'running' AND j.lease_expires_at > now()));
