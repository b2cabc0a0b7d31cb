-- +goose Up
-- Plain PostgreSQL that CockroachDB also accepts: UUID keys, no sequences,
-- no triggers. CockroachDB-only DDL lives in infra/cockroach/.

CREATE TABLE organizations (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name            TEXT NOT NULL UNIQUE,
    max_concurrency INT NOT NULL DEFAULT 80 CHECK (max_concurrency > 0),
    weight          INT NOT NULL DEFAULT 1 CHECK (weight > 0),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE tokens (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    description     TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'write', 'read')),
    -- SHA-256 of the secret; the secret itself is shown once and never stored.
    secret_hash     BYTEA NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX tokens_organization ON tokens (organization_id);

CREATE TABLE workspaces (
    id                     UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id        UUID NOT NULL REFERENCES organizations (id),
    name                   TEXT NOT NULL,
    auto_apply             BOOL NOT NULL DEFAULT false,
    auto_apply_run_trigger BOOL NOT NULL DEFAULT false,
    locked                 BOOL NOT NULL DEFAULT false,
    lock_reason            TEXT NOT NULL DEFAULT '',
    -- Token that took a manual lock; NULL for system locks and when unlocked.
    locked_by              UUID,
    -- The run that holds the workspace (invariant 1, docs/architecture.md). Written only by internal/run.
    active_run_id          UUID,
    -- Per-workspace run numbering gives a strict queue order without a sequence.
    next_run_number        BIGINT NOT NULL DEFAULT 1,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (organization_id, name)
);

CREATE TABLE runs (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id   UUID NOT NULL REFERENCES organizations (id),
    workspace_id      UUID NOT NULL REFERENCES workspaces (id),
    number            BIGINT NOT NULL,
    status            TEXT NOT NULL,
    plan_only         BOOL NOT NULL DEFAULT false,
    is_destroy        BOOL NOT NULL DEFAULT false,
    auto_apply        BOOL NOT NULL DEFAULT false,
    message           TEXT NOT NULL DEFAULT '',
    -- Set by the first cancel of a planning/applying run; force-cancel waits a cool-off after it.
    cancel_requested_at TIMESTAMPTZ,
    -- Plan phases started; a lost plan lease is retried a bounded number of times.
    plan_attempts     INT NOT NULL DEFAULT 0,
    -- Status name -> RFC 3339 time it was entered.
    status_timestamps JSONB NOT NULL DEFAULT '{}',
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, number)
);

-- The workspace queue: next pending run of one workspace, and the tick's scan
-- for pending runs a lost event left behind. Both stay as small as the queue.
CREATE INDEX runs_pending_queue ON runs (workspace_id, number) WHERE status = 'pending';
CREATE INDEX runs_pending_age ON runs (created_at) WHERE status = 'pending';

-- +goose Down
DROP TABLE runs;
DROP TABLE workspaces;
DROP TABLE tokens;
DROP TABLE organizations;
