-- +goose Up
-- The audit trail: one row per change, inserted in the change's own
-- transaction with no number yet (so changes of one organization never
-- wait on one another), then sealed: numbered 1, 2, 3 … per organization
-- in the order the changes happened, each hash covering the previous hash,
-- its number and its body, the exact JSON that was stored. The columns
-- beside the body are for filtering; what is shown is the body.
CREATE TABLE audit_events (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    at              TIMESTAMPTZ NOT NULL,
    action          TEXT NOT NULL,
    object_id       UUID,
    body            TEXT NOT NULL,
    seq             BIGINT,
    hash            BYTEA
);
CREATE UNIQUE INDEX audit_events_seq ON audit_events (organization_id, seq) WHERE seq IS NOT NULL;
CREATE INDEX audit_events_unsealed ON audit_events (organization_id, at, id) WHERE seq IS NULL;
CREATE INDEX audit_events_action ON audit_events (organization_id, action, seq) WHERE seq IS NOT NULL;

-- Each organization's last sealed entry.
CREATE TABLE audit_heads (
    organization_id UUID PRIMARY KEY REFERENCES organizations (id),
    seq             BIGINT NOT NULL,
    hash            BYTEA NOT NULL
);

-- +goose Down
DROP TABLE audit_heads;
DROP TABLE audit_events;
