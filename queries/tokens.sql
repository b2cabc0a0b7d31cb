-- name: TokenCreate :one
INSERT INTO tokens (organization_id, description, role, secret_hash, workspace_id, run_id, expires_at)
VALUES (@organization_id, @description, @role, @secret_hash, sqlc.narg(workspace_id), sqlc.narg(run_id), sqlc.narg(expires_at))
RETURNING id, organization_id, description, role, created_at;

-- name: TokenGetBySecretHash :one
-- An expired job credential is as good as none.
SELECT t.id, t.organization_id, t.role, t.workspace_id, t.run_id, o.name AS organization_name
FROM tokens t
JOIN organizations o ON o.id = t.organization_id
WHERE t.secret_hash = @secret_hash AND (t.expires_at IS NULL OR t.expires_at > now());
