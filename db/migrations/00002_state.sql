-- +goose Up
-- State versions, the Terraform state lock, who may read whose state, and
-- credentials scoped to one workspace (a run's job credential).

CREATE TABLE state_versions (
    -- Chosen by the writer before the blob is stored: it names the blob and
    -- is the GCM additional data, so an object moved to another version's
    -- key fails to open.
    id              UUID PRIMARY KEY,
    organization_id UUID NOT NULL REFERENCES organizations (id),
    workspace_id    UUID NOT NULL REFERENCES workspaces (id),
    serial          BIGINT NOT NULL CHECK (serial >= 0),
    lineage         TEXT NOT NULL,
    -- SHA-256 and size of the plaintext state, checked on every read.
    sha256          BYTEA NOT NULL,
    size            BIGINT NOT NULL,
    blob_key        TEXT NOT NULL UNIQUE,
    -- The master key that wrapped the data key, and the wrapped data key.
    key_id          TEXT NOT NULL,
    wrapped_key     BYTEA NOT NULL,
    -- The state's outputs, sealed with the version's data key.
    outputs_sealed  BYTEA NOT NULL,
    -- Token that wrote the version, and the run whose credential it was.
    created_by      UUID,
    run_id          UUID,
    rollback_of     UUID REFERENCES state_versions (id),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, serial)
);

ALTER TABLE workspaces ADD COLUMN current_state_version_id UUID REFERENCES state_versions (id);

-- The Terraform state lock (HTTP backend LOCK/UNLOCK), at most one per workspace.
CREATE TABLE state_locks (
    workspace_id    UUID PRIMARY KEY REFERENCES workspaces (id),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    lock_id         TEXT NOT NULL,
    -- Terraform's lock-info JSON, answered to whoever finds the state locked.
    info            JSONB NOT NULL,
    token_id        UUID,
    run_id          UUID,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Workspaces whose runs may read another workspace's state (terraform_remote_state).
CREATE TABLE workspace_state_consumers (
    organization_id UUID NOT NULL REFERENCES organizations (id),
    workspace_id    UUID NOT NULL REFERENCES workspaces (id),
    consumer_id     UUID NOT NULL REFERENCES workspaces (id),
    PRIMARY KEY (workspace_id, consumer_id)
);

-- A token with a workspace is a job credential: it reaches that workspace's
-- state and the states that list the workspace as a consumer, nothing else.
ALTER TABLE tokens ADD COLUMN workspace_id UUID REFERENCES workspaces (id);
ALTER TABLE tokens ADD COLUMN run_id UUID;
ALTER TABLE tokens ADD COLUMN expires_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE tokens DROP COLUMN expires_at;
ALTER TABLE tokens DROP COLUMN run_id;
ALTER TABLE tokens DROP COLUMN workspace_id;
DROP TABLE workspace_state_consumers;
DROP TABLE state_locks;
ALTER TABLE workspaces DROP COLUMN current_state_version_id;
DROP TABLE state_versions;
