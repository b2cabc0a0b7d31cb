-- The audit trail (internal/audit).

-- name: AuditHeadTake :one
-- The organization's last sequence number and hash, locked until the
-- transaction ends; a first row starts from zero.
INSERT INTO audit_heads (organization_id, seq, hash) VALUES (@organization_id, 0, ''::BYTEA)
ON CONFLICT (organization_id) DO UPDATE SET seq = audit_heads.seq
RETURNING seq, hash;

-- name: AuditHeadMove :exec
UPDATE audit_heads SET seq = @seq, hash = @hash WHERE organization_id = @organization_id;

-- name: AuditEventAdd :exec
INSERT INTO audit_events (organization_id, seq, at, action, object_id, body, hash)
VALUES (@organization_id, @seq, @at, @action, sqlc.narg(object_id), @body, @hash);

-- name: AuditEventList :many
-- A page of the trail after a sequence number, optionally of one action
-- or one object.
SELECT seq, body, hash FROM audit_events
WHERE organization_id = @organization_id AND seq > @after_seq
    AND (sqlc.narg(action)::TEXT IS NULL OR action = sqlc.narg(action)::TEXT)
    AND (sqlc.narg(object_id)::UUID IS NULL OR object_id = sqlc.narg(object_id)::UUID)
ORDER BY seq
LIMIT @max_rows;
