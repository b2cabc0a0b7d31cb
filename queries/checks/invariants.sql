-- Checks the tests run against the live database; each returns the violating rows.

-- name: InvariantHolderMismatch :many
-- A non-plan-only run is in a holding status exactly when its workspace points at it.
SELECT r.id, r.workspace_id, r.status, w.active_run_id
FROM runs r
JOIN workspaces w ON w.id = r.workspace_id
WHERE NOT r.plan_only
  AND (r.status = ANY(@holding_statuses::text[])) <> (w.active_run_id IS NOT DISTINCT FROM r.id);

-- name: InvariantOutOfOrderAdmission :many
-- A run was admitted while an older run of its workspace is still pending.
SELECT p.workspace_id, p.id AS pending_run_id, a.id AS admitted_run_id
FROM runs p
JOIN runs a ON a.workspace_id = p.workspace_id
WHERE p.status = 'pending' AND NOT p.plan_only AND NOT a.plan_only
  AND a.number > p.number
  AND a.status_timestamps ->> 'plan_queued' IS NOT NULL;

-- name: InvariantStrandedPending :many
-- Pending runs on a free, unlocked workspace: the tick must leave none once settled.
SELECT r.id, r.workspace_id
FROM runs r
JOIN workspaces w ON w.id = r.workspace_id
WHERE r.status = 'pending' AND w.active_run_id IS NULL AND NOT w.locked;

-- name: InvariantOrgLoadMismatch :many
-- An organization's running counter equals its runs executing.
SELECT o.id, o.running, COALESCE(c.running, 0)::INT AS actual_running
FROM organizations o
LEFT JOIN (
    SELECT organization_id, count(*) AS running
    FROM runs
    WHERE status IN ('planning', 'applying')
    GROUP BY organization_id
) c ON c.organization_id = o.id
WHERE o.running <> COALESCE(c.running, 0);

-- name: InvariantOrgQueueMismatch :many
-- An organization's row in the claim's ranking says what its runs and
-- counters say: share, at its cap, since when its oldest platform job waits.
SELECT o.id, oq.share, oq.at_cap, oq.waiting_since, w.queued_at AS actual_waiting_since
FROM organizations o
LEFT JOIN organization_queues oq ON oq.organization_id = o.id
LEFT JOIN LATERAL (
    SELECT r.queued_at FROM runs r
    WHERE r.organization_id = o.id AND r.status IN ('plan_queued', 'apply_queued') AND r.agent_pool_id IS NULL
    ORDER BY r.queued_at LIMIT 1
) w ON true
WHERE oq.organization_id IS NULL
   OR oq.share <> o.running::FLOAT8 / o.weight
   OR oq.at_cap <> (o.running >= o.max_concurrency)
   OR oq.waiting_since IS DISTINCT FROM w.queued_at;

-- name: InvariantTriggeredBeforeUpstream :many
-- A triggered run admitted while a direct upstream had a run going (one
-- created before the admission and not ended by then): it would have
-- planned against state about to change.
SELECT r.id, r.workspace_id, u.id AS upstream_run_id
FROM runs r
JOIN workspace_triggers t ON t.downstream_id = r.workspace_id
JOIN runs u ON u.workspace_id = t.upstream_id
WHERE r.triggered AND r.status_timestamps ->> 'plan_queued' IS NOT NULL
  AND NOT u.plan_only
  AND u.created_at < (r.status_timestamps ->> 'plan_queued')::TIMESTAMPTZ
  AND COALESCE(
        (u.status_timestamps ->> 'applied')::TIMESTAMPTZ, (u.status_timestamps ->> 'planned_and_finished')::TIMESTAMPTZ,
        (u.status_timestamps ->> 'errored')::TIMESTAMPTZ, (u.status_timestamps ->> 'canceled')::TIMESTAMPTZ,
        (u.status_timestamps ->> 'force_canceled')::TIMESTAMPTZ, (u.status_timestamps ->> 'discarded')::TIMESTAMPTZ,
        'infinity'::TIMESTAMPTZ
      ) > (r.status_timestamps ->> 'plan_queued')::TIMESTAMPTZ;

-- name: InvariantDuplicateCascadeRuns :many
-- A workspace with two runs caused by the same event, or two triggered runs pending at once.
SELECT c.event_id AS key_id, r.workspace_id, count(*)::INT AS runs
FROM run_causes c JOIN runs r ON r.id = c.run_id
GROUP BY c.event_id, r.workspace_id HAVING count(*) > 1
UNION ALL
SELECT r.workspace_id AS key_id, r.workspace_id, count(*)::INT AS runs
FROM runs r WHERE r.status = 'pending' AND r.triggered
GROUP BY r.workspace_id HAVING count(*) > 1;

-- name: CheckWorkspaceLeftovers :one
-- Rows that still belong to a workspace; after its purge, none.
SELECT ((SELECT count(*) FROM workspaces w WHERE w.id = @id::UUID)
    + (SELECT count(*) FROM runs r WHERE r.workspace_id = @id::UUID)
    + (SELECT count(*) FROM jobs j WHERE j.workspace_id = @id::UUID)
    + (SELECT count(*) FROM state_versions sv WHERE sv.workspace_id = @id::UUID)
    + (SELECT count(*) FROM state_locks sl WHERE sl.workspace_id = @id::UUID)
    + (SELECT count(*) FROM workspace_state_consumers c WHERE c.workspace_id = @id::UUID OR c.consumer_id = @id::UUID)
    + (SELECT count(*) FROM workspace_triggers t WHERE t.upstream_id = @id::UUID OR t.downstream_id = @id::UUID)
    + (SELECT count(*) FROM configuration_versions cv WHERE cv.workspace_id = @id::UUID)
    + (SELECT count(*) FROM configuration_uploads cu WHERE cu.workspace_id = @id::UUID)
    + (SELECT count(*) FROM variables v WHERE v.workspace_id = @id::UUID)
    + (SELECT count(*) FROM variable_set_workspaces vs WHERE vs.workspace_id = @id::UUID)
    + (SELECT count(*) FROM events e WHERE e.workspace_id = @id::UUID)
    + (SELECT count(*) FROM run_causes rc WHERE rc.upstream_workspace_id = @id::UUID)
    + (SELECT count(*) FROM tokens tk WHERE tk.workspace_id = @id::UUID))::BIGINT AS rows_left;

-- name: CheckAuditTamper :exec
-- What an attacker with database access would do: rewrite an entry.
UPDATE audit_events SET body = replace(body, @old::TEXT, @new::TEXT)
WHERE organization_id = @organization_id AND seq = @seq::BIGINT;
