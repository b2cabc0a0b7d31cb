-- The event log (internal/events).

-- name: EventAdd :one
INSERT INTO events (organization_id, workspace_id, run_id, kind, payload, created_at, next_attempt_at)
VALUES (@organization_id, @workspace_id, sqlc.narg(run_id), @kind, @payload, @now, @now)
RETURNING id;

-- name: EventClaim :one
-- Takes a due event for one delivery attempt: until visible_at no other
-- deliverer takes it; a deliverer that dies leaves it due again then.
UPDATE events SET attempts = attempts + 1, next_attempt_at = @visible_at
WHERE id = @id AND delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= @now
RETURNING *;

-- name: EventMarkDelivered :execrows
UPDATE events SET delivered_at = @now, last_error = ''
WHERE id = @id AND delivered_at IS NULL AND dead_at IS NULL;

-- name: EventMarkFailed :exec
-- Records a failed attempt, the attempts-th: due again at next_attempt_at,
-- or dead (dead_at set) when the attempts ran out.
UPDATE events SET attempts = @attempts, last_error = @last_error, next_attempt_at = @next_attempt_at, dead_at = sqlc.narg(dead_at)
WHERE id = @id AND delivered_at IS NULL;

-- name: EventListDue :many
SELECT id FROM events
WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= @now
ORDER BY next_attempt_at
LIMIT @max_rows;

-- name: EventListDueByRun :many
-- Reads the small index of pending events only.
SELECT * FROM events
WHERE run_id = @run_id AND delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= @now
ORDER BY created_at;

-- name: EventGet :one
SELECT * FROM events WHERE id = @id;

-- name: EventList :many
-- The log, newest first, filtered: status is pending, delivered, dead or
-- empty for all; a zero organization or workspace id matches any.
SELECT * FROM events
WHERE (@organization_id::UUID = '00000000-0000-0000-0000-000000000000' OR organization_id = @organization_id)
  AND (@workspace_id::UUID = '00000000-0000-0000-0000-000000000000' OR workspace_id = @workspace_id)
  AND (@kind::TEXT = '' OR kind = @kind)
  AND CASE @status::TEXT
        WHEN 'pending' THEN delivered_at IS NULL AND dead_at IS NULL
        WHEN 'delivered' THEN delivered_at IS NOT NULL
        WHEN 'dead' THEN dead_at IS NOT NULL
        ELSE TRUE
      END
  AND created_at < @before
ORDER BY created_at DESC
LIMIT @max_rows;

-- name: EventRetry :execrows
-- Gives a dead event a new set of attempts, due now.
UPDATE events SET dead_at = NULL, attempts = 0, next_attempt_at = @now, last_error = ''
WHERE id = @id AND dead_at IS NOT NULL;

-- name: EventPrune :execrows
-- Forgets delivered events older than the retention, a batch at a time.
DELETE FROM events WHERE id IN (
    SELECT old.id FROM events old WHERE old.delivered_at < @before ORDER BY old.delivered_at LIMIT @max_rows
);
