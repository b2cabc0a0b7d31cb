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
