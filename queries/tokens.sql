-- name: TokenCreate :one
INSERT INTO tokens (organization_id, description, role, secret_hash)
VALUES (@organization_id, @description, @role, @secret_hash)
RETURNING id, organization_id, description, role, created_at;

-- name: TokenGetBySecretHash :one
SELECT t.id, t.organization_id, t.role, o.name AS organization_name
FROM tokens t
JOIN organizations o ON o.id = t.organization_id
WHERE t.secret_hash = @secret_hash;
