-- Configuration versions (internal/configversion).

-- name: ConfigurationVersionCreate :one
INSERT INTO configuration_versions (id, organization_id, workspace_id, sha256, size, blob_key, key_id, wrapped_key, created_by)
VALUES (@id, @organization_id, @workspace_id, @sha256, @size, @blob_key, @key_id, @wrapped_key, sqlc.narg(created_by))
RETURNING *;

-- name: ConfigurationVersionGet :one
SELECT * FROM configuration_versions WHERE id = @id AND organization_id = @organization_id;

-- name: ConfigurationVersionLatest :one
SELECT * FROM configuration_versions
WHERE workspace_id = @workspace_id AND organization_id = @organization_id
ORDER BY created_at DESC
LIMIT 1;
