-- +goose Up
-- A deleted workspace stays, with its state, runs and variables, until it
-- is purged after the retention period: until then an admin may restore
-- it. Its name is freed at deletion (the row is renamed to name~id, which
-- no workspace name can be) and taken back at restore.
ALTER TABLE workspaces ADD COLUMN deleted_at TIMESTAMPTZ;
CREATE INDEX workspaces_deleted ON workspaces (deleted_at) WHERE deleted_at IS NOT NULL;

-- +goose Down
DROP INDEX workspaces_deleted;
ALTER TABLE workspaces DROP COLUMN deleted_at;
