-- Workspace variables (internal/variable).

-- name: VariableCreate :one
INSERT INTO variables (id, organization_id, workspace_id, key, category, hcl, sensitive, description, value, sealed_value, key_id, wrapped_key)
VALUES (@id, @organization_id, @workspace_id, @key, @category, @hcl, @sensitive, @description, @value, @sealed_value, @key_id, @wrapped_key)
RETURNING *;

-- name: VariableGet :one
SELECT * FROM variables WHERE id = @id AND organization_id = @organization_id;

-- name: VariableListByWorkspace :many
SELECT * FROM variables WHERE workspace_id = @workspace_id AND organization_id = @organization_id
ORDER BY category, key;

-- name: VariableUpdate :one
UPDATE variables
SET key = @key, hcl = @hcl, sensitive = @sensitive, description = @description, value = @value,
    sealed_value = @sealed_value, key_id = @key_id, wrapped_key = @wrapped_key, updated_at = now()
WHERE id = @id AND organization_id = @organization_id
RETURNING *;

-- name: VariableDelete :execrows
DELETE FROM variables WHERE id = @id AND organization_id = @organization_id;
