-- Runs (internal/run): the only writer of runs; its transitions also keep
-- the running count of the organization and admit in dependency order.

-- name: TriggerDescendants :many
WITH RECURSIVE d (id) AS (
    SELECT wt.downstream_id FROM workspace_triggers wt WHERE wt.upstream_id = @workspace_id AND wt.organization_id = @organization_id
    UNION
    SELECT t.downstream_id FROM workspace_triggers t JOIN d ON t.upstream_id = d.id
)
SELECT id FROM d;

-- name: RunPendingTriggered :one
SELECT * FROM runs
WHERE workspace_id = @workspace_id AND organization_id = @organization_id AND status = 'pending' AND triggered
LIMIT 1;

-- name: RunUpstreamBusy :one
-- Whether any direct upstream of the workspace has a non-terminal run
-- (plan-only runs aside) or an apply not yet fanned out: a pending
-- triggered run waits for them, so it joins their cascade instead of
-- running before it. A dead-lettered state change no longer holds it back:
-- operators see it and a retry fans it out then.
SELECT (EXISTS (
    SELECT 1 FROM workspace_triggers t
    JOIN runs r ON r.workspace_id = t.upstream_id
    WHERE t.downstream_id = @workspace_id AND t.organization_id = @organization_id AND NOT r.plan_only
      AND r.status NOT IN ('applied', 'planned_and_finished', 'errored', 'canceled', 'force_canceled', 'discarded')
) OR EXISTS (
    SELECT 1 FROM workspace_triggers t
    JOIN events e ON e.workspace_id = t.upstream_id
    WHERE t.downstream_id = @workspace_id AND t.organization_id = @organization_id
      AND e.kind = 'state.changed' AND e.delivered_at IS NULL AND e.dead_at IS NULL
))::BOOL AS busy;

-- The claim's ranking row (organization_queues) is written blind, by
-- INSERT ... ON CONFLICT DO UPDATE on a row that always exists: its
-- arbiter probe takes no SERIALIZABLE predicate lock, where an UPDATE's
-- index scan would lock the primary key's page, which every organization's
-- row shares when there are few, and abort the claims and finishes of
-- other organizations. Two transactions writing one organization's row
-- still meet on the row itself.

-- name: OrganizationAdjustRunning :exec
-- A run started or stopped executing: the organization's running count and
-- its place in the claim's ranking; when the run also left the queue (a
-- claim), since when the organization's oldest job has waited.
WITH o AS (
    UPDATE organizations og SET running = og.running + @delta WHERE og.id = @id
    RETURNING og.id, og.running, og.weight, og.max_concurrency
)
INSERT INTO organization_queues AS oq (organization_id, share, at_cap, waiting_since)
SELECT o.id, o.running::FLOAT8 / o.weight, o.running >= o.max_concurrency,
    CASE WHEN @left_queue::BOOL THEN (
        SELECT r.queued_at FROM runs r
        WHERE r.organization_id = o.id AND r.status IN ('plan_queued', 'apply_queued') AND r.agent_pool_id IS NULL
        ORDER BY r.queued_at LIMIT 1) END
FROM o
ON CONFLICT (organization_id) DO UPDATE SET
    share = excluded.share, at_cap = excluded.at_cap,
    waiting_since = CASE WHEN @left_queue::BOOL THEN excluded.waiting_since ELSE oq.waiting_since END;

-- name: OrganizationQueueJoin :exec
-- A run began waiting for a platform agent: the oldest wait is the earlier
-- of the row's and the run's. Always written, even unchanged: a claim that
-- took the organization's last waiting job concurrently clears the row,
-- and only the two writes meeting on the row makes one of them retry (the
-- blind write reads nothing a predicate lock would record); an unchanged
-- value changes no indexed column, so the write stays on its page.
INSERT INTO organization_queues AS oq (organization_id, waiting_since) VALUES (@organization_id, @queued_at::TIMESTAMPTZ)
ON CONFLICT (organization_id) DO UPDATE
SET waiting_since = LEAST(COALESCE(oq.waiting_since, excluded.waiting_since), excluded.waiting_since);

-- name: OrganizationQueueLeave :exec
-- A run stopped waiting without starting (canceled, discarded): since when
-- the organization's oldest remaining job has waited.
INSERT INTO organization_queues AS oq (organization_id, waiting_since)
VALUES (@organization_id, (
    SELECT r.queued_at FROM runs r
    WHERE r.organization_id = @organization_id AND r.status IN ('plan_queued', 'apply_queued') AND r.agent_pool_id IS NULL
    ORDER BY r.queued_at LIMIT 1))
ON CONFLICT (organization_id) DO UPDATE SET waiting_since = excluded.waiting_since;

-- name: RunSetPlanSummary :exec
UPDATE runs SET plan_add = @plan_add, plan_change = @plan_change, plan_destroy = @plan_destroy, has_changes = @has_changes
WHERE id = @id AND organization_id = @organization_id;

-- name: RunSetError :exec
UPDATE runs SET error_message = @error_message WHERE id = @id AND organization_id = @organization_id;

-- name: StateLockDeleteByRun :exec
DELETE FROM state_locks WHERE workspace_id = @workspace_id AND organization_id = @organization_id AND run_id = @run_id;

-- name: RunCreate :one
INSERT INTO runs (organization_id, workspace_id, number, status, plan_only, is_destroy, auto_apply, message, status_timestamps, configuration_version_id, triggered,
    refresh_only, refresh, target_addrs, replace_addrs, agent_pool_id)
VALUES (@organization_id, @workspace_id, @number, @status, @plan_only, @is_destroy, @auto_apply, @message, @status_timestamps, sqlc.narg(configuration_version_id), @triggered,
    @refresh_only, @refresh, COALESCE(sqlc.narg(target_addrs)::TEXT[], ARRAY[]::TEXT[]), COALESCE(sqlc.narg(replace_addrs)::TEXT[], ARRAY[]::TEXT[]), sqlc.narg(agent_pool_id))
RETURNING *;

-- name: RunGetForUpdate :one
SELECT * FROM runs WHERE id = @id AND organization_id = @organization_id FOR NO KEY UPDATE;

-- name: RunGetWithWorkspace :one
-- A run with the workspace and organization facts its wait reason is derived from.
SELECT sqlc.embed(r), w.locked AS workspace_locked, w.active_run_id AS workspace_active_run_id, sqlc.embed(o),
    EXISTS (SELECT 1 FROM state_locks sl WHERE sl.workspace_id = w.id) AS state_locked
FROM runs r
JOIN workspaces w ON w.id = r.workspace_id
JOIN organizations o ON o.id = r.organization_id
WHERE r.id = @id AND r.organization_id = @organization_id;

-- name: RunListByWorkspace :many
SELECT sqlc.embed(r), w.locked AS workspace_locked, w.active_run_id AS workspace_active_run_id, sqlc.embed(o),
    EXISTS (SELECT 1 FROM state_locks sl WHERE sl.workspace_id = w.id) AS state_locked
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
