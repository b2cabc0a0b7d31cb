-- +goose Up
-- Workspace variables: terraform input variables and environment variables
-- a run's terraform receives. A sensitive value is sealed under a data key
-- bound to the workspace (envelope encryption, as state) and never kept in
-- value; a plain one is kept as written.
CREATE TABLE variables (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    workspace_id    UUID NOT NULL REFERENCES workspaces (id),
    key             TEXT NOT NULL,
    category        TEXT NOT NULL CHECK (category IN ('terraform', 'env')),
    hcl             BOOL NOT NULL DEFAULT false,
    sensitive       BOOL NOT NULL DEFAULT false,
    description     TEXT NOT NULL DEFAULT '',
    value           TEXT NOT NULL DEFAULT '',
    sealed_value    BYTEA,
    key_id          TEXT NOT NULL DEFAULT '',
    wrapped_key     BYTEA,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (NOT sensitive OR (value = '' AND sealed_value IS NOT NULL)),
    UNIQUE (workspace_id, category, key)
);

-- +goose Down
DROP TABLE variables;
