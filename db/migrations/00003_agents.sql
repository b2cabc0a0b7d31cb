-- +goose Up
-- Configuration versions, agent jobs with leases, their logs, run artifacts.

CREATE TABLE configuration_versions (
    -- Chosen before the blob is stored: names the blob and is the GCM additional data.
    id              UUID PRIMARY KEY,
    organization_id UUID NOT NULL REFERENCES organizations (id),
    workspace_id    UUID NOT NULL REFERENCES workspaces (id),
    sha256          BYTEA NOT NULL,
    size            BIGINT NOT NULL,
    blob_key        TEXT NOT NULL UNIQUE,
    key_id          TEXT NOT NULL,
    wrapped_key     BYTEA NOT NULL,
    created_by      UUID,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX configuration_versions_latest ON configuration_versions (workspace_id, created_at);

ALTER TABLE runs ADD COLUMN configuration_version_id UUID REFERENCES configuration_versions (id);
-- When the run last entered plan_queued or apply_queued: the claim's order.
ALTER TABLE runs ADD COLUMN queued_at TIMESTAMPTZ;
-- The plan summary the agent reported; NULL until the plan finished.
ALTER TABLE runs ADD COLUMN plan_add INT;
ALTER TABLE runs ADD COLUMN plan_change INT;
ALTER TABLE runs ADD COLUMN plan_destroy INT;
ALTER TABLE runs ADD COLUMN has_changes BOOL;
ALTER TABLE runs ADD COLUMN error_message TEXT NOT NULL DEFAULT '';

-- One index per claim class, each matching its query's ORDER BY: applies,
-- then plans, then speculative (plan-only) plans.
CREATE INDEX runs_claim_apply ON runs (queued_at) WHERE status = 'apply_queued';
CREATE INDEX runs_claim_plan ON runs (queued_at) WHERE status = 'plan_queued' AND NOT plan_only;
CREATE INDEX runs_claim_speculative ON runs (queued_at) WHERE status = 'plan_queued' AND plan_only;

-- A job is one phase of one run, executed by one agent under a lease.
CREATE TABLE jobs (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id  UUID NOT NULL REFERENCES organizations (id),
    workspace_id     UUID NOT NULL REFERENCES workspaces (id),
    run_id           UUID NOT NULL REFERENCES runs (id),
    phase            TEXT NOT NULL CHECK (phase IN ('plan', 'apply')),
    -- The fencing token: every agent call must carry it while the job runs.
    lease_token      UUID NOT NULL,
    lease_expires_at TIMESTAMPTZ NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('running', 'finished', 'lost')),
    agent            TEXT NOT NULL DEFAULT '',
    log_size         BIGINT NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at      TIMESTAMPTZ
);

CREATE INDEX jobs_lease_expiry ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_run ON jobs (run_id, created_at);

CREATE TABLE job_log_chunks (
    job_id          UUID NOT NULL REFERENCES jobs (id),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    byte_offset     BIGINT NOT NULL,
    data            BYTEA NOT NULL,
    PRIMARY KEY (job_id, byte_offset)
);

-- The plan file and plan JSON of a run's latest plan job, sealed like state.
CREATE TABLE run_artifacts (
    run_id          UUID NOT NULL REFERENCES runs (id),
    name            TEXT NOT NULL CHECK (name IN ('plan-file', 'plan-json')),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    job_id          UUID NOT NULL REFERENCES jobs (id),
    id              UUID NOT NULL UNIQUE,
    sha256          BYTEA NOT NULL,
    size            BIGINT NOT NULL,
    blob_key        TEXT NOT NULL UNIQUE,
    key_id          TEXT NOT NULL,
    wrapped_key     BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, name)
);

-- A job credential lives only as long as its job's lease.
ALTER TABLE tokens ADD COLUMN job_id UUID REFERENCES jobs (id);

-- +goose Down
ALTER TABLE tokens DROP COLUMN job_id;
DROP TABLE run_artifacts;
DROP TABLE job_log_chunks;
DROP TABLE jobs;
DROP INDEX runs_claim_speculative;
DROP INDEX runs_claim_plan;
DROP INDEX runs_claim_apply;
ALTER TABLE runs DROP COLUMN error_message;
ALTER TABLE runs DROP COLUMN has_changes;
ALTER TABLE runs DROP COLUMN plan_destroy;
ALTER TABLE runs DROP COLUMN plan_change;
ALTER TABLE runs DROP COLUMN plan_add;
ALTER TABLE runs DROP COLUMN queued_at;
ALTER TABLE runs DROP COLUMN configuration_version_id;
DROP TABLE configuration_versions;
