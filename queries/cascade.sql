-- name: TriggerDownstreamOf :many
SELECT downstream_id, on_event FROM workspace_triggers
WHERE upstream_id = @upstream_id AND organization_id = @organization_id;

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

-- name: RunCauseAdd :exec
INSERT INTO run_causes (run_id, event_id, organization_id, upstream_workspace_id, upstream_run_id)
VALUES (@run_id, @event_id, @organization_id, @upstream_workspace_id, @upstream_run_id)
ON CONFLICT DO NOTHING;

-- name: RunCauseList :many
SELECT * FROM run_causes WHERE run_id = @run_id AND organization_id = @organization_id ORDER BY created_at;

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

-- name: StateVersionPrevious :one
SELECT * FROM state_versions
WHERE workspace_id = @workspace_id AND organization_id = @organization_id AND serial < @serial
ORDER BY serial DESC
LIMIT 1;
