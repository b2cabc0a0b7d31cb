-- Workspaces (internal/workspace; internal/run holds and releases them).

-- name: WorkspaceCreate :one
INSERT INTO workspaces (organization_id, name, auto_apply, auto_apply_run_trigger)
VALUES (@organization_id, @name, @auto_apply, @auto_apply_run_trigger)
RETURNING *;

-- name: WorkspaceGet :one
SELECT * FROM workspaces WHERE id = @id AND organization_id = @organization_id AND deleted_at IS NULL;

-- name: WorkspaceGetByName :one
SELECT * FROM workspaces WHERE organization_id = @organization_id AND name = @name AND deleted_at IS NULL;

-- name: WorkspaceGetForUpdate :one
SELECT * FROM workspaces WHERE id = @id AND organization_id = @organization_id AND deleted_at IS NULL FOR NO KEY UPDATE;

-- name: WorkspaceList :many
SELECT * FROM workspaces
WHERE organization_id = @organization_id AND name > @after_name AND deleted_at IS NULL
ORDER BY name
LIMIT @max_rows;

-- name: WorkspaceTakeRunNumber :one
UPDATE workspaces SET next_run_number = next_run_number + 1
WHERE id = @id AND organization_id = @organization_id AND deleted_at IS NULL
RETURNING (next_run_number - 1)::BIGINT AS number, active_run_id, locked, auto_apply, auto_apply_run_trigger, agent_pool_id;

-- name: WorkspaceSetActiveRun :execrows
UPDATE workspaces SET active_run_id = @run_id
WHERE id = @id AND organization_id = @organization_id AND active_run_id IS NULL AND NOT locked;

-- name: WorkspaceReleaseRun :execrows
UPDATE workspaces SET active_run_id = NULL
WHERE id = @id AND organization_id = @organization_id AND active_run_id = @run_id;

-- name: WorkspaceLock :one
UPDATE workspaces SET locked = true, lock_reason = @reason, locked_by = sqlc.narg(locked_by),
    locked_for_run_id = sqlc.narg(locked_for_run_id)
WHERE id = @id AND organization_id = @organization_id AND deleted_at IS NULL
RETURNING *;

-- name: WorkspaceUnlock :one
UPDATE workspaces SET locked = false, lock_reason = '', locked_by = NULL, locked_for_run_id = NULL
WHERE id = @id AND organization_id = @organization_id AND deleted_at IS NULL
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
WHERE id = @id AND organization_id = @organization_id AND deleted_at IS NULL
RETURNING *;

-- Deletion (internal/workspace): soft, then purged after the retention.

-- name: WorkspaceUnfinishedRunCount :one
SELECT count(*) FROM runs
WHERE workspace_id = @id AND organization_id = @organization_id
  AND status NOT IN ('applied', 'planned_and_finished', 'errored', 'canceled', 'force_canceled', 'discarded');

-- name: WorkspaceTriggerCount :one
SELECT count(*) FROM workspace_triggers WHERE upstream_id = @id OR downstream_id = @id;

-- name: WorkspaceDelete :one
UPDATE workspaces SET deleted_at = now(), name = name || '~' || id::TEXT
WHERE id = @id AND organization_id = @organization_id AND deleted_at IS NULL
RETURNING *;

-- name: WorkspaceGetDeleted :one
SELECT * FROM workspaces WHERE id = @id AND organization_id = @organization_id AND deleted_at IS NOT NULL FOR NO KEY UPDATE;

-- name: WorkspaceListDeleted :many
SELECT * FROM workspaces
WHERE organization_id = @organization_id AND deleted_at IS NOT NULL
ORDER BY deleted_at DESC, id
LIMIT @max_rows;

-- name: WorkspaceRestore :one
UPDATE workspaces SET deleted_at = NULL, name = @name
WHERE id = @id AND organization_id = @organization_id AND deleted_at IS NOT NULL
RETURNING *;

-- name: WorkspaceListPurgeable :many
SELECT id, organization_id FROM workspaces
WHERE deleted_at IS NOT NULL AND deleted_at < @deleted_before::TIMESTAMPTZ
ORDER BY deleted_at
LIMIT @max_rows;

-- Purging removes every row that belongs to the workspace, in the order
-- the foreign keys need, in one transaction. It is the one place that
-- writes other packages tables: what a workspace owned goes with it.
-- The sealed objects stay in blob storage without their data keys, which
-- go with the rows, so they can no longer be opened.

-- name: WorkspacePurgeRunCauses :exec
DELETE FROM run_causes
WHERE upstream_workspace_id = @id
   OR run_id IN (SELECT r.id FROM runs r WHERE r.workspace_id = @id);

-- name: WorkspacePurgeEvents :exec
DELETE FROM events WHERE workspace_id = @id;

-- name: WorkspacePurgePolicyResults :exec
DELETE FROM policy_results WHERE run_id IN (SELECT r.id FROM runs r WHERE r.workspace_id = @id);

-- name: WorkspacePurgeRunArtifacts :exec
DELETE FROM run_artifacts WHERE run_id IN (SELECT r.id FROM runs r WHERE r.workspace_id = @id);

-- name: WorkspacePurgeJobLogChunks :exec
DELETE FROM job_log_chunks WHERE job_id IN (SELECT j.id FROM jobs j WHERE j.workspace_id = @id);

-- name: WorkspacePurgeJobLogs :exec
DELETE FROM job_logs WHERE job_id IN (SELECT j.id FROM jobs j WHERE j.workspace_id = @id);

-- name: WorkspacePurgeTokens :exec
DELETE FROM tokens t
WHERE t.workspace_id = @id::UUID OR t.job_id IN (SELECT j.id FROM jobs j WHERE j.workspace_id = @id::UUID);

-- name: WorkspacePurgeTeamAccess :exec
DELETE FROM team_workspace_access WHERE workspace_id = @id;

-- name: WorkspacePurgeJobs :exec
DELETE FROM jobs WHERE workspace_id = @id;

-- name: WorkspacePurgeRuns :exec
DELETE FROM runs WHERE workspace_id = @id;

-- name: WorkspacePurgeCurrentState :exec
UPDATE workspaces SET current_state_version_id = NULL WHERE id = @id;

-- name: WorkspacePurgeStateVersions :exec
DELETE FROM state_versions WHERE workspace_id = @id;

-- name: WorkspacePurgeStateLock :exec
DELETE FROM state_locks WHERE workspace_id = @id;

-- name: WorkspacePurgeConsumers :exec
DELETE FROM workspace_state_consumers WHERE workspace_id = @id OR consumer_id = @id;

-- name: WorkspacePurgeTriggers :exec
DELETE FROM workspace_triggers WHERE upstream_id = @id OR downstream_id = @id;

-- name: WorkspacePurgeVariableSetLinks :exec
DELETE FROM variable_set_workspaces WHERE workspace_id = @id;

-- name: WorkspacePurgeVariables :exec
DELETE FROM variables WHERE workspace_id = @id::UUID;

-- name: WorkspacePurgeConfigurationUploads :exec
DELETE FROM configuration_uploads WHERE workspace_id = @id;

-- name: WorkspacePurgeConfigurationVersions :exec
DELETE FROM configuration_versions WHERE workspace_id = @id;

-- name: WorkspacePurgeRow :exec
DELETE FROM workspaces WHERE id = @id AND deleted_at IS NOT NULL;

-- name: WorkspaceSetAgentPool :one
-- The caller checked that the pool, if any, is the organization's.
UPDATE workspaces SET agent_pool_id = sqlc.narg(agent_pool_id)
WHERE id = @id AND organization_id = @organization_id AND deleted_at IS NULL
RETURNING *;
