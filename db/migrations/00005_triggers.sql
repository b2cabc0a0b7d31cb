-- +goose Up
-- Cross-workspace run triggers: an edge upstream → downstream within one
-- organization. The graph is kept acyclic by internal/trigger, which changes
-- an organization's edges only under its organization row lock.
CREATE TABLE workspace_triggers (
    organization_id UUID NOT NULL REFERENCES organizations (id),
    downstream_id   UUID NOT NULL REFERENCES workspaces (id),
    upstream_id     UUID NOT NULL REFERENCES workspaces (id),
    -- apply: every apply of the upstream; outputs_changed: only when its outputs changed.
    on_event        TEXT NOT NULL CHECK (on_event IN ('apply', 'outputs_changed')),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (downstream_id, upstream_id),
    CHECK (downstream_id <> upstream_id)
);

CREATE INDEX workspace_triggers_upstream ON workspace_triggers (upstream_id);

-- +goose Down
DROP TABLE workspace_triggers;
