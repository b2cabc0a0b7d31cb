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
-- An organization's queued and running counters equal its runs' statuses.
SELECT o.id, o.queued, o.running, COALESCE(c.queued, 0)::INT AS actual_queued, COALESCE(c.running, 0)::INT AS actual_running
FROM organizations o
LEFT JOIN (
    SELECT organization_id,
        count(*) FILTER (WHERE status IN ('plan_queued', 'apply_queued')) AS queued,
        count(*) FILTER (WHERE status IN ('planning', 'applying')) AS running
    FROM runs
    GROUP BY organization_id
) c ON c.organization_id = o.id
WHERE o.queued <> COALESCE(c.queued, 0) OR o.running <> COALESCE(c.running, 0);
