-- +goose Up
-- The event log: every transition others react to (a plan that needs its
-- policy check, an apply that changed a workspace's state) writes a typed
-- row here in its own transaction; internal/events delivers each to its
-- handler at least once, retries with backoff and dead-letters what keeps
-- failing. Delivered rows are kept for a retention period, ordered per
-- workspace, for readers (notifications, audit, live views).
CREATE TABLE events (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    workspace_id    UUID NOT NULL REFERENCES workspaces (id),
    run_id          UUID REFERENCES runs (id),
    kind            TEXT NOT NULL,
    payload         JSONB NOT NULL DEFAULT '{}',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Delivery: the next attempt is due at next_attempt_at; a claimed
    -- attempt pushes it out by the visibility timeout, so a deliverer that
    -- dies leaves the event due again instead of lost.
    attempts        INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      TEXT NOT NULL DEFAULT '',
    delivered_at    TIMESTAMPTZ,
    dead_at         TIMESTAMPTZ
);

CREATE INDEX events_due ON events (next_attempt_at) WHERE delivered_at IS NULL AND dead_at IS NULL;
-- An upstream whose state change is not yet fanned out still counts as busy;
-- a run's events are handed to the dispatcher once its transaction commits.
CREATE INDEX events_pending_workspace ON events (workspace_id) WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX events_pending_run ON events (run_id) WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX events_workspace ON events (workspace_id, created_at);
CREATE INDEX events_dead ON events (dead_at) WHERE dead_at IS NOT NULL;
CREATE INDEX events_delivered ON events (delivered_at) WHERE delivered_at IS NOT NULL;

INSERT INTO events (id, organization_id, workspace_id, run_id, kind, payload, created_at, next_attempt_at, delivered_at)
SELECT id, organization_id, workspace_id, run_id, 'state.changed',
       CASE WHEN state_version_id IS NULL THEN '{}'::JSONB ELSE jsonb_build_object('state_version_id', state_version_id) END,
       created_at, created_at, delivered_at
FROM outbox;

-- Runs waiting for their policy check get its event: the check used to be
-- found by scanning for them.
INSERT INTO events (organization_id, workspace_id, run_id, kind)
SELECT organization_id, workspace_id, id, 'run.needs_policy_check' FROM runs WHERE status = 'policy_checking';

-- A run's causes name the events they came from; the log forgets delivered
-- events after its retention, the causes stay.
ALTER TABLE run_causes DROP CONSTRAINT run_causes_event_id_fkey;
DROP TABLE outbox;

-- +goose Down
CREATE TABLE outbox (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id  UUID NOT NULL REFERENCES organizations (id),
    workspace_id     UUID NOT NULL REFERENCES workspaces (id),
    run_id           UUID NOT NULL REFERENCES runs (id),
    kind             TEXT NOT NULL CHECK (kind IN ('state_changed')),
    state_version_id UUID,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at     TIMESTAMPTZ
);
CREATE INDEX outbox_undelivered ON outbox (created_at) WHERE delivered_at IS NULL;
CREATE INDEX outbox_undelivered_workspace ON outbox (workspace_id) WHERE delivered_at IS NULL;
INSERT INTO outbox (id, organization_id, workspace_id, run_id, kind, state_version_id, created_at, delivered_at)
SELECT id, organization_id, workspace_id, run_id, 'state_changed', (payload ->> 'state_version_id')::UUID, created_at, COALESCE(delivered_at, dead_at)
FROM events WHERE kind = 'state.changed';
DELETE FROM run_causes WHERE event_id NOT IN (SELECT id FROM outbox);
ALTER TABLE run_causes ADD CONSTRAINT run_causes_event_id_fkey FOREIGN KEY (event_id) REFERENCES outbox (id);
DROP TABLE events;
