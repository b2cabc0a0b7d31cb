-- Workload identity signing keys (internal/identity).

-- name: SigningKeyCurrent :one
-- The newest key this server can open: one sealed under its master key
-- (a new master key makes a new signing key rather than failing).
SELECT * FROM signing_keys WHERE retire_at IS NULL AND key_id = @key_id ORDER BY created_at DESC, id LIMIT 1;

-- name: SigningKeyAdd :exec
INSERT INTO signing_keys (id, public_jwk, sealed_private, key_id, wrapped_key)
VALUES (@id, @public_jwk, @sealed_private, @key_id, @wrapped_key);

-- name: SigningKeyRetireOthers :exec
UPDATE signing_keys SET retire_at = @retire_at WHERE retire_at IS NULL AND id <> @keep;

-- name: SigningKeyPublished :many
SELECT id, public_jwk FROM signing_keys WHERE retire_at IS NULL OR retire_at > now() ORDER BY created_at;

-- name: IdentityJobNames :one
SELECT o.name AS organization_name, w.name AS workspace_name
FROM workspaces w JOIN organizations o ON o.id = w.organization_id
WHERE w.id = @workspace_id AND w.organization_id = @organization_id;
