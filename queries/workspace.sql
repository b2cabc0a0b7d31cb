-- Workspaces (internal/workspace; internal/run holds and releases them).

-- name: WorkspaceCreate :one
INSERT INTO workspaces (organization_id, name, auto_apply, auto_apply_run_trigger)
VALUES (@organization_id, @name, @auto_apply, @auto_apply_run_trigger)
RETURNING *;

-- name: WorkspaceGet :one
SELECT * FROM workspaces WHERE id = @id AND organization_id = @organization_id;

-- name: WorkspaceGetByName :one
SELECT * FROM workspaces WHERE organization_id = @organization_id AND name = @name;

-- name: WorkspaceGetForUpdate :one
SELECT * FROM workspaces WHERE id = @id AND organization_id = @organization_id FOR NO KEY UPDATE;

-- name: WorkspaceList :many
SELECT * FROM workspaces
WHERE organization_id = @organization_id AND name > @after_name
ORDER BY name
LIMIT @max_rows;

-- name: WorkspaceTakeRunNumber :one
UPDATE workspaces SET next_run_number = next_run_number + 1
WHERE id = @id AND organization_id = @organization_id
RETURNING (next_run_number - 1)::BIGINT AS number, active_run_id, locked, auto_apply, auto_apply_run_trigger;

-- name: WorkspaceSetActiveRun :execrows
UPDATE workspaces SET active_run_id = @run_id
WHERE id = @id AND organization_id = @organization_id AND active_run_id IS NULL AND NOT locked;

-- name: WorkspaceReleaseRun :execrows
UPDATE workspaces SET active_run_id = NULL
WHERE id = @id AND organization_id = @organization_id AND active_run_id = @run_id;

-- name: WorkspaceLock :one
UPDATE workspaces SET locked = true, lock_reason = @reason, locked_by = sqlc.narg(locked_by),
    locked_for_run_id = sqlc.narg(locked_for_run_id)
WHERE id = @id AND organization_id = @organization_id
RETURNING *;

-- name: WorkspaceUnlock :one
UPDATE workspaces SET locked = false, lock_reason = '', locked_by = NULL, locked_for_run_id = NULL
WHERE id = @id AND organization_id = @organization_id
RETURNING *;

-- name: WorkspaceListAdmittable :many
-- Workspaces with a pending run but no holder, no lock and nobody holding
-- the state lock: only a lost event leaves one behind. Scans the
-- pending-runs index, not the workspaces.
SELECT DISTINCT r.organization_id, r.workspace_id
FROM runs r
JOIN workspaces w ON w.id = r.workspace_id
WHERE r.status = 'pending' AND w.active_run_id IS NULL AND NOT w.locked
    AND NOT EXISTS (SELECT 1 FROM state_locks sl WHERE sl.workspace_id = r.workspace_id)
LIMIT @max_rows;

-- name: WorkspaceUpdateSettings :one
UPDATE workspaces SET
    auto_apply = COALESCE(sqlc.narg(auto_apply)::BOOL, auto_apply),
    auto_apply_run_trigger = COALESCE(sqlc.narg(auto_apply_run_trigger)::BOOL, auto_apply_run_trigger)
WHERE id = @id AND organization_id = @organization_id
RETURNING *;
