-- +goose Up
-- Variables: terraform input variables and environment variables a run's
-- terraform receives, set on a workspace or in a variable set (applied to
-- every workspace of the organization when global, else to the workspaces
-- attached to it). A sensitive value is sealed under a data key bound to
-- its workspace or set (envelope encryption, as state) and never kept in
-- value; a plain one is kept as written.
CREATE TABLE variable_sets (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    global          BOOL NOT NULL DEFAULT false,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (organization_id, name)
);

CREATE TABLE variable_set_workspaces (
    variable_set_id UUID NOT NULL REFERENCES variable_sets (id) ON DELETE CASCADE,
    workspace_id    UUID NOT NULL REFERENCES workspaces (id),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    PRIMARY KEY (variable_set_id, workspace_id)
);
CREATE INDEX variable_set_workspaces_workspace ON variable_set_workspaces (workspace_id);

CREATE TABLE variables (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    -- Exactly one of the two owns the variable.
    workspace_id    UUID REFERENCES workspaces (id),
    variable_set_id UUID REFERENCES variable_sets (id) ON DELETE CASCADE,
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
    CHECK ((workspace_id IS NULL) <> (variable_set_id IS NULL)),
    CHECK (NOT sensitive OR (value = '' AND sealed_value IS NOT NULL))
);
CREATE UNIQUE INDEX variables_workspace_key ON variables (workspace_id, category, key) WHERE workspace_id IS NOT NULL;
CREATE UNIQUE INDEX variables_set_key ON variables (variable_set_id, category, key) WHERE variable_set_id IS NOT NULL;

-- +goose Down
DROP TABLE variables;
DROP TABLE variable_set_workspaces;
DROP TABLE variable_sets;
