-- Configuration versions (internal/configversion).

-- name: ConfigurationVersionCreate :one
INSERT INTO configuration_versions (id, organization_id, workspace_id, sha256, size, blob_key, key_id, wrapped_key, created_by, speculative)
VALUES (@id, @organization_id, @workspace_id, @sha256, @size, @blob_key, @key_id, @wrapped_key, sqlc.narg(created_by), @speculative)
RETURNING *;

-- name: ConfigurationVersionGet :one
SELECT * FROM configuration_versions WHERE id = @id AND organization_id = @organization_id;

-- name: ConfigurationVersionLatest :one
SELECT * FROM configuration_versions
WHERE workspace_id = @workspace_id AND organization_id = @organization_id AND NOT speculative
ORDER BY created_at DESC
LIMIT 1;

-- name: ConfigurationUploadCreate :one
INSERT INTO configuration_uploads (organization_id, workspace_id, speculative, auto_queue_runs, created_by)
VALUES (@organization_id, @workspace_id, @speculative, @auto_queue_runs, sqlc.narg(created_by))
RETURNING *;

-- name: ConfigurationUploadGet :one
SELECT * FROM configuration_uploads WHERE id = @id AND organization_id = @organization_id;

-- name: ConfigurationUploadTake :one
-- Claims a pending upload for its archive: the row goes as the version
-- comes, in one transaction, so two uploads of one id store one version.
DELETE FROM configuration_uploads WHERE id = @id AND organization_id = @organization_id
RETURNING *;

-- name: ConfigurationVersionListByWorkspace :many
SELECT * FROM configuration_versions
WHERE workspace_id = @workspace_id AND organization_id = @organization_id
ORDER BY created_at DESC
LIMIT @max_rows;

-- name: ConfigurationVersionCount :one
SELECT count(*) FROM configuration_versions WHERE workspace_id = @workspace_id AND organization_id = @organization_id;
