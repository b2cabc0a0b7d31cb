-- Policies and their results (internal/policy).

-- name: PolicyCreate :one
INSERT INTO policies (organization_id, name, rego, enforcement)
VALUES (@organization_id, @name, @rego, @enforcement)
RETURNING *;

-- name: PolicyList :many
SELECT * FROM policies WHERE organization_id = @organization_id ORDER BY name;

-- name: PolicyDelete :execrows
DELETE FROM policies WHERE id = @id AND organization_id = @organization_id;

-- name: PolicyExists :one
-- Whether a plan with changes goes to policy_checking.
SELECT EXISTS (SELECT 1 FROM policies WHERE organization_id = @organization_id)::BOOL;

-- name: PolicyResultAdd :exec
INSERT INTO policy_results (run_id, organization_id, policy_name, enforcement, passed, messages, error)
VALUES (@run_id, @organization_id, @policy_name, @enforcement, @passed, @messages, @error);

-- name: PolicyResultList :many
SELECT * FROM policy_results
WHERE run_id = @run_id AND organization_id = @organization_id
ORDER BY policy_name;
