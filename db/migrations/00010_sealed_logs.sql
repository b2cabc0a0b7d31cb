-- +goose Up
-- Logs are sealed like state. While a phase runs, its chunks are stored
-- sealed with the job's own data key (wrapped here, bound to the
-- workspace); once the phase ends the whole log moves to blob storage as
-- one sealed object and the chunks go. Chunks of jobs from before this
-- migration have no key and stay as they were.
ALTER TABLE jobs ADD COLUMN log_key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN log_wrapped_key BYTEA;

CREATE TABLE job_logs (
    job_id          UUID PRIMARY KEY REFERENCES jobs (id),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    id              UUID NOT NULL,
    sha256          BYTEA NOT NULL,
    size            BIGINT NOT NULL,
    blob_key        TEXT NOT NULL,
    key_id          TEXT NOT NULL,
    wrapped_key     BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE job_logs;
ALTER TABLE jobs DROP COLUMN log_wrapped_key;
ALTER TABLE jobs DROP COLUMN log_key_id;
