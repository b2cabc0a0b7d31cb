-- +goose Up
-- How long the job's terraform commands took, as the agent timed them: the
-- part of a run that is terraform's own, against which the platform's
-- overhead (queueing, claims, transfers) is measured. 0 when not reported.
ALTER TABLE jobs ADD COLUMN terraform_ms BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE jobs DROP COLUMN terraform_ms;
