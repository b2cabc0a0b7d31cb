-- Faults the tests inject to show the platform repairs them.

-- name: FaultRankingRefreshLost :exec
-- As if an organization's transition committed and the process died
-- before its ranking refresh: the row forgets its waiting jobs and the
-- change record is older than the tick waits for.
WITH c AS (
    INSERT INTO organization_queue_changes (organization_id, at) VALUES (@id::UUID, now() - @age::INTERVAL)
)
UPDATE organization_queues oq SET waiting_since = NULL WHERE oq.organization_id = @id::UUID;
