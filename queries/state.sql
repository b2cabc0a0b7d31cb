-- State versions, the state lock and consumers (internal/state, and the
-- workspace settings that name consumers).

-- name: StateVersionPrevious :one
SELECT * FROM state_versions
WHERE workspace_id = @workspace_id AND organization_id = @organization_id AND serial < @serial
ORDER BY serial DESC
LIMIT 1;

-- name: StateVersionCreate :one
INSERT INTO state_versions (
    id, organization_id, workspace_id, serial, lineage, sha256, size, blob_key,
    key_id, wrapped_key, outputs_sealed, created_by, run_id, rollback_of
) VALUES (
    @id, @organization_id, @workspace_id, @serial, @lineage, @sha256, @size, @blob_key,
    @key_id, @wrapped_key, @outputs_sealed, sqlc.narg(created_by), sqlc.narg(run_id), sqlc.narg(rollback_of)
)
RETURNING *;

-- name: StateVersionGet :one
SELECT * FROM state_versions WHERE id = @id AND organization_id = @organization_id;

-- name: StateVersionList :many
-- Newest first; serials only grow within a workspace, so the serial is the cursor.
SELECT * FROM state_versions
WHERE workspace_id = @workspace_id AND organization_id = @organization_id AND serial < @before_serial
ORDER BY serial DESC
LIMIT @max_rows;

-- name: StateWorkspaceGet :one
-- What a state read or write needs of the workspace. readable: the reader is
-- any token of the organization (reader NULL), the workspace's own job
-- credential, or that of a workspace on its consumer allow-list.
SELECT w.current_state_version_id, w.active_run_id, w.locked, w.locked_by, w.locked_for_run_id, w.lock_reason,
    (sqlc.narg(reader)::UUID IS NULL OR w.id = sqlc.narg(reader)::UUID OR EXISTS (
        SELECT 1 FROM workspace_state_consumers c
        WHERE c.workspace_id = w.id AND c.consumer_id = sqlc.narg(reader)::UUID
    ))::BOOL AS readable
FROM workspaces w
WHERE w.id = @workspace_id AND w.organization_id = @organization_id AND w.deleted_at IS NULL;

-- name: WorkspaceSetCurrentState :exec
UPDATE workspaces SET current_state_version_id = @state_version_id
WHERE id = @id AND organization_id = @organization_id;

-- name: StateLockCreate :execrows
INSERT INTO state_locks (workspace_id, organization_id, lock_id, info, token_id, run_id)
VALUES (@workspace_id, @organization_id, @lock_id, @info, sqlc.narg(token_id), sqlc.narg(run_id))
ON CONFLICT (workspace_id) DO NOTHING;

-- name: StateLockGet :one
SELECT * FROM state_locks WHERE workspace_id = @workspace_id AND organization_id = @organization_id;

-- name: StateLockDelete :execrows
DELETE FROM state_locks
WHERE workspace_id = @workspace_id AND organization_id = @organization_id AND lock_id = @lock_id;

-- name: StateLockForceDelete :execrows
DELETE FROM state_locks WHERE workspace_id = @workspace_id AND organization_id = @organization_id;

-- name: StateConsumerDeleteAll :exec
DELETE FROM workspace_state_consumers WHERE workspace_id = @workspace_id AND organization_id = @organization_id;

-- name: StateConsumerAdd :execrows
-- Adds nothing when the consumer is not a workspace of the same organization.
INSERT INTO workspace_state_consumers (organization_id, workspace_id, consumer_id)
SELECT @organization_id, @workspace_id, w.id
FROM workspaces w
WHERE w.id = @consumer_id AND w.organization_id = @organization_id AND w.deleted_at IS NULL
ON CONFLICT DO NOTHING;

-- name: StateConsumerList :many
SELECT consumer_id FROM workspace_state_consumers
WHERE workspace_id = @workspace_id AND organization_id = @organization_id
ORDER BY consumer_id;

-- name: StateVersionCount :one
SELECT count(*) FROM state_versions WHERE workspace_id = @workspace_id AND organization_id = @organization_id;

-- name: StateConsumerListMany :many
-- The allow-lists of a page of workspaces, for a list answer.
SELECT workspace_id, consumer_id FROM workspace_state_consumers
WHERE organization_id = @organization_id AND workspace_id = ANY(@workspace_ids::UUID[])
ORDER BY workspace_id, consumer_id;
