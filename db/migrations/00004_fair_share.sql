-- +goose Up
-- Fair share of the agent pool: per-organization load counters, a token
-- bucket refilled lazily by the claim, and indexes that let the claim pick
-- an organization and then its next job without scanning workspaces or runs.

-- Jobs waiting for an agent (plan_queued, apply_queued) and executing
-- (planning, applying); moved only by internal/run, in the transaction of
-- the transition. share = running / weight, kept with running.
ALTER TABLE organizations ADD COLUMN queued INT NOT NULL DEFAULT 0;
ALTER TABLE organizations ADD COLUMN running INT NOT NULL DEFAULT 0;
ALTER TABLE organizations ADD COLUMN share FLOAT8 NOT NULL DEFAULT 0;
-- Since when the organization has had jobs waiting: the tie-break.
ALTER TABLE organizations ADD COLUMN queued_since TIMESTAMPTZ;
-- The token bucket: one token per claimed job.
ALTER TABLE organizations ADD COLUMN bucket_burst INT NOT NULL DEFAULT 100 CHECK (bucket_burst > 0);
ALTER TABLE organizations ADD COLUMN bucket_refill_per_second FLOAT8 NOT NULL DEFAULT 50 CHECK (bucket_refill_per_second > 0);
ALTER TABLE organizations ADD COLUMN tokens FLOAT8 NOT NULL DEFAULT 100;
ALTER TABLE organizations ADD COLUMN tokens_at TIMESTAMPTZ NOT NULL DEFAULT now();

-- Organizations with waiting jobs, least loaded first.
CREATE INDEX organizations_claim_order ON organizations (share, queued_since) WHERE queued > 0;

-- An organization's next job of each class, oldest first.
DROP INDEX runs_claim_apply;
DROP INDEX runs_claim_plan;
DROP INDEX runs_claim_speculative;
CREATE INDEX runs_claim_apply ON runs (organization_id, queued_at) WHERE status = 'apply_queued';
CREATE INDEX runs_claim_plan ON runs (organization_id, queued_at) WHERE status = 'plan_queued' AND NOT plan_only;
CREATE INDEX runs_claim_speculative ON runs (organization_id, queued_at) WHERE status = 'plan_queued' AND plan_only;

-- +goose Down
DROP INDEX runs_claim_speculative;
DROP INDEX runs_claim_plan;
DROP INDEX runs_claim_apply;
CREATE INDEX runs_claim_apply ON runs (queued_at) WHERE status = 'apply_queued';
CREATE INDEX runs_claim_plan ON runs (queued_at) WHERE status = 'plan_queued' AND NOT plan_only;
CREATE INDEX runs_claim_speculative ON runs (queued_at) WHERE status = 'plan_queued' AND plan_only;
DROP INDEX organizations_claim_order;
ALTER TABLE organizations DROP COLUMN tokens_at;
ALTER TABLE organizations DROP COLUMN tokens;
ALTER TABLE organizations DROP COLUMN bucket_refill_per_second;
ALTER TABLE organizations DROP COLUMN bucket_burst;
ALTER TABLE organizations DROP COLUMN queued_since;
ALTER TABLE organizations DROP COLUMN share;
ALTER TABLE organizations DROP COLUMN running;
ALTER TABLE organizations DROP COLUMN queued;
