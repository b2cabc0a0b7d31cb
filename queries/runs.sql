-- name: RunCreate :one
INSERT INTO runs (organization_id, workspace_id, number, status, plan_only, is_destroy, auto_apply, message, status_timestamps, configuration_version_id, triggered)
VALUES (@organization_id, @workspace_id, @number, @status, @plan_only, @is_destroy, @auto_apply, @message, @status_timestamps, sqlc.narg(configuration_version_id), @triggered)
RETURNING *;

-- name: RunGetForUpdate :one
SELECT * FROM runs WHERE id = @id AND organization_id = @organization_id FOR NO KEY UPDATE;

-- name: RunGetWithWorkspace :one
-- A run with the workspace and organization facts its wait reason is derived from.
SELECT sqlc.embed(r), w.locked AS workspace_locked, w.active_run_id AS workspace_active_run_id, sqlc.embed(o)
FROM runs r
JOIN workspaces w ON w.id = r.workspace_id
JOIN organizations o ON o.id = r.organization_id
WHERE r.id = @id AND r.organization_id = @organization_id;

-- name: RunListByWorkspace :many
SELECT sqlc.embed(r), w.locked AS workspace_locked, w.active_run_id AS workspace_active_run_id, sqlc.embed(o)
FROM runs r
JOIN workspaces w ON w.id = r.workspace_id
JOIN organizations o ON o.id = r.organization_id
WHERE r.workspace_id = @workspace_id AND r.organization_id = @organization_id AND r.number < @before_number
ORDER BY r.number DESC
LIMIT @max_rows;

-- name: RunNextPending :one
SELECT * FROM runs
WHERE workspace_id = @workspace_id AND organization_id = @organization_id AND status = 'pending'
ORDER BY number
LIMIT 1;

-- name: RunUpdateStatus :one
-- Guarded by the status the transition was computed from, so a stale caller
-- changes nothing.
UPDATE runs
SET status = @to_status,
    status_timestamps = status_timestamps || @status_timestamp::jsonb,
    cancel_requested_at = sqlc.narg(cancel_requested_at),
    plan_attempts = @plan_attempts,
    queued_at = CASE WHEN @to_status IN ('plan_queued', 'apply_queued') THEN now() ELSE queued_at END,
    updated_at = now()
WHERE id = @id AND organization_id = @organization_id AND status = @from_status
RETURNING *;
