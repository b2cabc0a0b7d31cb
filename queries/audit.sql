-- The audit trail (internal/audit).

-- name: AuditEventAdd :exec
INSERT INTO audit_events (organization_id, at, action, object_id, body)
VALUES (@organization_id, @at, @action, sqlc.narg(object_id), @body);

-- name: AuditHeadTake :one
-- The organization's last sealed number and hash, locked until the
-- transaction ends; a first seal starts from zero.
INSERT INTO audit_heads (organization_id, seq, hash) VALUES (@organization_id, 0, ''::BYTEA)
ON CONFLICT (organization_id) DO UPDATE SET seq = audit_heads.seq
RETURNING seq, hash;

-- name: AuditHeadMove :exec
UPDATE audit_heads SET seq = @seq, hash = @hash WHERE organization_id = @organization_id;

-- name: AuditUnsealedList :many
SELECT id, body FROM audit_events
WHERE organization_id = @organization_id AND seq IS NULL
ORDER BY at, id
LIMIT @max_rows
FOR UPDATE;

-- name: AuditEventSeal :exec
UPDATE audit_events SET seq = @seq::BIGINT, hash = @hash WHERE id = @id AND seq IS NULL;

-- name: AuditUnsealedOrganizations :many
SELECT DISTINCT organization_id FROM audit_events WHERE seq IS NULL LIMIT @max_rows;

-- name: AuditEventList :many
-- A page of the sealed trail after a number, optionally of one action or
-- one object.
SELECT seq::BIGINT AS seq, body, hash FROM audit_events
WHERE organization_id = @organization_id AND seq IS NOT NULL AND seq > @after_seq::BIGINT
    AND (sqlc.narg(action)::TEXT IS NULL OR action = sqlc.narg(action)::TEXT)
    AND (sqlc.narg(object_id)::UUID IS NULL OR object_id = sqlc.narg(object_id)::UUID)
ORDER BY seq
LIMIT @max_rows;
