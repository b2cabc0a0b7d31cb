-- Cross-workspace triggers (internal/trigger): the edges and the fan-out's
-- causes.

-- name: TriggerDownstreamOf :many
SELECT downstream_id, on_event FROM workspace_triggers
WHERE upstream_id = @upstream_id AND organization_id = @organization_id;

-- name: RunCauseAdd :exec
INSERT INTO run_causes (run_id, event_id, organization_id, upstream_workspace_id, upstream_run_id)
VALUES (@run_id, @event_id, @organization_id, @upstream_workspace_id, @upstream_run_id)
ON CONFLICT DO NOTHING;

-- name: RunCauseList :many
SELECT * FROM run_causes WHERE run_id = @run_id AND organization_id = @organization_id ORDER BY created_at;

-- name: OrganizationGetForUpdate :one
SELECT * FROM organizations WHERE id = @id FOR NO KEY UPDATE;

-- name: TriggerCreate :one
INSERT INTO workspace_triggers (organization_id, downstream_id, upstream_id, on_event)
VALUES (@organization_id, @downstream_id, @upstream_id, @on_event)
ON CONFLICT (downstream_id, upstream_id) DO NOTHING
RETURNING *;

-- name: TriggerListByDownstream :many
SELECT * FROM workspace_triggers
WHERE downstream_id = @downstream_id AND organization_id = @organization_id
ORDER BY created_at, upstream_id;

-- name: TriggerDelete :execrows
DELETE FROM workspace_triggers
WHERE downstream_id = @downstream_id AND upstream_id = @upstream_id AND organization_id = @organization_id;

-- name: TriggerPath :one
-- A path of edges from one workspace to another, if there is one: adding
-- the edge to → from would close it into a cycle.
WITH RECURSIVE reach (id, path) AS (
    SELECT @from_id::UUID, ARRAY[@from_id::UUID]
    UNION ALL
    SELECT t.downstream_id, r.path || t.downstream_id
    FROM reach r
    JOIN workspace_triggers t ON t.upstream_id = r.id AND t.organization_id = @organization_id
    WHERE NOT t.downstream_id = ANY (r.path)
)
SELECT path::UUID[] AS path FROM reach WHERE id = @to_id::UUID LIMIT 1;

-- name: TriggerListByUpstream :many
SELECT * FROM workspace_triggers
WHERE upstream_id = @upstream_id AND organization_id = @organization_id
ORDER BY created_at;
