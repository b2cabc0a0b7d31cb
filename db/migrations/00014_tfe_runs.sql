-- +goose Up
-- What the Terraform Cloud API needs of runs and configurations.
--
-- A configuration version is created before its archive arrives (create,
-- then upload to the URL the create answered): until then it is a
-- configuration upload, which names the workspace and how the archive
-- will be used. Uploading turns it into a configuration version with the
-- same id and deletes it.
CREATE TABLE configuration_uploads (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    workspace_id    UUID NOT NULL REFERENCES workspaces (id),
    -- A speculative configuration makes plan-only runs and is never a
    -- workspace's latest configuration.
    speculative     BOOL NOT NULL DEFAULT false,
    -- Queue a run of the workspace as soon as the archive arrives.
    auto_queue_runs BOOL NOT NULL DEFAULT false,
    created_by      UUID,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX configuration_uploads_workspace ON configuration_uploads (workspace_id);

ALTER TABLE configuration_versions ADD COLUMN speculative BOOL NOT NULL DEFAULT false;

-- How a run plans: terraform plan -refresh-only, -refresh=false, -target
-- and -replace, as terraform's cloud backend asks for them.
ALTER TABLE runs ADD COLUMN refresh_only BOOL NOT NULL DEFAULT false;
ALTER TABLE runs ADD COLUMN refresh BOOL NOT NULL DEFAULT true;
ALTER TABLE runs ADD COLUMN target_addrs TEXT[] NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN replace_addrs TEXT[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE runs DROP COLUMN replace_addrs;
ALTER TABLE runs DROP COLUMN target_addrs;
ALTER TABLE runs DROP COLUMN refresh;
ALTER TABLE runs DROP COLUMN refresh_only;
ALTER TABLE configuration_versions DROP COLUMN speculative;
DROP TABLE configuration_uploads;
