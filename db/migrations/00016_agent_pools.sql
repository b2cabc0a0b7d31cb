-- +goose Up
-- An organization's own agents. A pool has its own agent token; the runs of
-- workspaces assigned to it are claimed by its agents only, and its agents
-- claim nothing else. The platform's agents never see pooled runs.
CREATE TABLE agent_pools (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    -- SHA-256 of the pool's agent token, which is shown once.
    token_hash      BYTEA NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (organization_id, name)
);
ALTER TABLE workspaces ADD COLUMN agent_pool_id UUID REFERENCES agent_pools (id);
-- The pool a run's workspace had when the run was created claims it.
ALTER TABLE runs ADD COLUMN agent_pool_id UUID;

-- The platform's claims and its ranking of waiting organizations read only
-- unpooled runs, through indexes that hold only those.
DROP VIEW waiting_organizations;
DROP INDEX runs_queued_by_organization;
DROP INDEX runs_claim_apply;
DROP INDEX runs_claim_plan;
DROP INDEX runs_claim_speculative;
CREATE INDEX runs_claim_apply ON runs (organization_id, queued_at) WHERE status = 'apply_queued' AND agent_pool_id IS NULL;
CREATE INDEX runs_claim_plan ON runs (organization_id, queued_at) WHERE status = 'plan_queued' AND NOT plan_only AND agent_pool_id IS NULL;
CREATE INDEX runs_claim_speculative ON runs (organization_id, queued_at) WHERE status = 'plan_queued' AND plan_only AND agent_pool_id IS NULL;
CREATE INDEX runs_queued_by_organization ON runs (organization_id, queued_at)
    WHERE status IN ('plan_queued', 'apply_queued') AND agent_pool_id IS NULL;
-- A pool's claims.
CREATE INDEX runs_claim_pool ON runs (agent_pool_id, queued_at)
    WHERE status IN ('plan_queued', 'apply_queued') AND agent_pool_id IS NOT NULL;

CREATE VIEW waiting_organizations AS
WITH RECURSIVE waiting (organization_id) AS (
    (SELECT organization_id FROM runs
     WHERE status IN ('plan_queued', 'apply_queued') AND agent_pool_id IS NULL
     ORDER BY organization_id LIMIT 1)
    UNION ALL
    SELECT (SELECT r.organization_id FROM runs r
            WHERE r.status IN ('plan_queued', 'apply_queued') AND r.agent_pool_id IS NULL AND r.organization_id > w.organization_id
            ORDER BY r.organization_id LIMIT 1)
    FROM waiting w
    WHERE w.organization_id IS NOT NULL
)
SELECT w.organization_id,
    (SELECT r.queued_at FROM runs r
     WHERE r.organization_id = w.organization_id AND r.status IN ('plan_queued', 'apply_queued') AND r.agent_pool_id IS NULL
     ORDER BY r.queued_at LIMIT 1) AS waiting_since
FROM waiting w
WHERE w.organization_id IS NOT NULL;

-- +goose Down
DROP VIEW waiting_organizations;
DROP INDEX runs_claim_pool;
DROP INDEX runs_queued_by_organization;
DROP INDEX runs_claim_speculative;
DROP INDEX runs_claim_plan;
DROP INDEX runs_claim_apply;
CREATE INDEX runs_claim_apply ON runs (organization_id, queued_at) WHERE status = 'apply_queued';
CREATE INDEX runs_claim_plan ON runs (organization_id, queued_at) WHERE status = 'plan_queued' AND NOT plan_only;
CREATE INDEX runs_claim_speculative ON runs (organization_id, queued_at) WHERE status = 'plan_queued' AND plan_only;
CREATE INDEX runs_queued_by_organization ON runs (organization_id, queued_at)
    WHERE status IN ('plan_queued', 'apply_queued');
CREATE VIEW waiting_organizations AS
WITH RECURSIVE waiting (organization_id) AS (
    (SELECT organization_id FROM runs
     WHERE status IN ('plan_queued', 'apply_queued')
     ORDER BY organization_id LIMIT 1)
    UNION ALL
    SELECT (SELECT r.organization_id FROM runs r
            WHERE r.status IN ('plan_queued', 'apply_queued') AND r.organization_id > w.organization_id
            ORDER BY r.organization_id LIMIT 1)
    FROM waiting w
    WHERE w.organization_id IS NOT NULL
)
SELECT w.organization_id,
    (SELECT r.queued_at FROM runs r
     WHERE r.organization_id = w.organization_id AND r.status IN ('plan_queued', 'apply_queued')
     ORDER BY r.queued_at LIMIT 1) AS waiting_since
FROM waiting w
WHERE w.organization_id IS NOT NULL;
ALTER TABLE runs DROP COLUMN agent_pool_id;
ALTER TABLE workspaces DROP COLUMN agent_pool_id;
DROP TABLE agent_pools;
