-- +goose Up
-- A revoked token stops at once; its row stays, to say who had it.
ALTER TABLE tokens ADD COLUMN revoked_at TIMESTAMPTZ;
-- The token that made it, when one did (the site admin makes tokens too).
ALTER TABLE tokens ADD COLUMN created_by UUID;

-- +goose Down
ALTER TABLE tokens DROP COLUMN created_by;
ALTER TABLE tokens DROP COLUMN revoked_at;
