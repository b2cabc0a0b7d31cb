-- +goose Up
-- Trigger cascades: applied runs leave a state_changed event in the outbox
-- (in their finishing transaction); fan-out turns it into one pending
-- triggered run per descendant workspace, coalescing with one still pending.

ALTER TABLE runs ADD COLUMN triggered BOOL NOT NULL DEFAULT false;

-- Non-terminal runs of a workspace: an upstream is busy while it has one.
CREATE INDEX runs_active ON runs (workspace_id)
    WHERE status NOT IN ('applied', 'planned_and_finished', 'errored', 'canceled', 'force_canceled', 'discarded');
-- The triggered run still pending on a workspace, which new causes join.
CREATE INDEX runs_pending_triggered ON runs (workspace_id) WHERE status = 'pending' AND triggered;

CREATE TABLE outbox (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id  UUID NOT NULL REFERENCES organizations (id),
    workspace_id     UUID NOT NULL REFERENCES workspaces (id),
    run_id           UUID NOT NULL REFERENCES runs (id),
    kind             TEXT NOT NULL CHECK (kind IN ('state_changed')),
    -- The workspace's current state when the run applied (NULL: none).
    state_version_id UUID,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at     TIMESTAMPTZ
);

CREATE INDEX outbox_undelivered ON outbox (created_at) WHERE delivered_at IS NULL;
-- An upstream whose apply is not yet fanned out still counts as busy.
CREATE INDEX outbox_undelivered_workspace ON outbox (workspace_id) WHERE delivered_at IS NULL;

-- Why a triggered run exists: every upstream apply it stands for.
CREATE TABLE run_causes (
    run_id                UUID NOT NULL REFERENCES runs (id),
    event_id              UUID NOT NULL REFERENCES outbox (id),
    organization_id       UUID NOT NULL REFERENCES organizations (id),
    upstream_workspace_id UUID NOT NULL REFERENCES workspaces (id),
    upstream_run_id       UUID NOT NULL REFERENCES runs (id),
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, event_id)
);

-- +goose Down
DROP TABLE run_causes;
DROP TABLE outbox;
DROP INDEX runs_pending_triggered;
DROP INDEX runs_active;
ALTER TABLE runs DROP COLUMN triggered;
