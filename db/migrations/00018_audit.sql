-- +goose Up
-- The audit trail: one row per change, written in the change's own
-- transaction, chained per organization: each row's hash covers the
-- previous row's hash and its own body, the exact JSON that was hashed.
-- The columns beside the body are for filtering; what is shown is the body.
CREATE TABLE audit_events (
    organization_id UUID NOT NULL REFERENCES organizations (id),
    seq             BIGINT NOT NULL,
    at              TIMESTAMPTZ NOT NULL,
    action          TEXT NOT NULL,
    object_id       UUID,
    body            TEXT NOT NULL,
    hash            BYTEA NOT NULL,
    PRIMARY KEY (organization_id, seq)
);
CREATE INDEX audit_events_action ON audit_events (organization_id, action, seq);

-- Each organization's last row: taking it (a row lock) orders the
-- organization's audited changes and keeps the chain without gaps.
CREATE TABLE audit_heads (
    organization_id UUID PRIMARY KEY REFERENCES organizations (id),
    seq             BIGINT NOT NULL,
    hash            BYTEA NOT NULL
);

-- +goose Down
DROP TABLE audit_heads;
DROP TABLE audit_events;
