-- Variables and variable sets (internal/variable).

-- name: VariableCreate :one
INSERT INTO variables (id, organization_id, workspace_id, variable_set_id, key, category, hcl, sensitive, description, value, sealed_value, key_id, wrapped_key)
VALUES (@id, @organization_id, sqlc.narg(workspace_id), sqlc.narg(variable_set_id), @key, @category, @hcl, @sensitive, @description, @value, @sealed_value, @key_id, @wrapped_key)
RETURNING *;

-- name: VariableGet :one
SELECT * FROM variables WHERE id = @id AND organization_id = @organization_id;

-- name: VariableListByWorkspace :many
SELECT * FROM variables WHERE workspace_id = @workspace_id AND organization_id = @organization_id
ORDER BY category, key;

-- name: VariableListBySet :many
SELECT * FROM variables WHERE variable_set_id = @variable_set_id AND organization_id = @organization_id
ORDER BY category, key;

-- name: VariableListForWorkspaceSets :many
-- The variables of every set that applies to the workspace — global sets
-- and the sets attached to it — by set name.
SELECT sqlc.embed(v), s.global AS set_global FROM variables v
JOIN variable_sets s ON s.id = v.variable_set_id
WHERE s.organization_id = @organization_id
  AND (s.global OR EXISTS (
      SELECT 1 FROM variable_set_workspaces a WHERE a.variable_set_id = s.id AND a.workspace_id = @workspace_id
  ))
ORDER BY s.name, v.category, v.key;

-- name: VariableUpdate :one
UPDATE variables
SET key = @key, hcl = @hcl, sensitive = @sensitive, description = @description, value = @value,
    sealed_value = @sealed_value, key_id = @key_id, wrapped_key = @wrapped_key, updated_at = now()
WHERE id = @id AND organization_id = @organization_id
RETURNING *;

-- name: VariableDelete :execrows
DELETE FROM variables WHERE id = @id AND organization_id = @organization_id;

-- name: VariableSetCreate :one
INSERT INTO variable_sets (organization_id, name, description, global)
VALUES (@organization_id, @name, @description, @global)
RETURNING *;

-- name: VariableSetGet :one
SELECT * FROM variable_sets WHERE id = @id AND organization_id = @organization_id;

-- name: VariableSetList :many
SELECT * FROM variable_sets WHERE organization_id = @organization_id ORDER BY name;

-- name: VariableSetUpdate :one
UPDATE variable_sets SET name = @name, description = @description, global = @global
WHERE id = @id AND organization_id = @organization_id
RETURNING *;

-- name: VariableSetDelete :execrows
DELETE FROM variable_sets WHERE id = @id AND organization_id = @organization_id;

-- name: VariableSetAttach :exec
INSERT INTO variable_set_workspaces (variable_set_id, workspace_id, organization_id)
VALUES (@variable_set_id, @workspace_id, @organization_id)
ON CONFLICT DO NOTHING;

-- name: VariableSetDetach :execrows
DELETE FROM variable_set_workspaces
WHERE variable_set_id = @variable_set_id AND workspace_id = @workspace_id AND organization_id = @organization_id;

-- name: VariableSetWorkspaces :many
SELECT workspace_id FROM variable_set_workspaces
WHERE variable_set_id = @variable_set_id AND organization_id = @organization_id
ORDER BY workspace_id;
