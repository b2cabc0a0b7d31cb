-- CockroachDB-only DDL, applied after `runplane migrate` (docs/architecture.md §8). sqlc
-- never reads this folder. Replace the regions with your cluster's; the
-- primary region is the one the SAM stack (every Lambda function) runs in.

ALTER DATABASE runplane SET PRIMARY REGION "eu-west-1";
ALTER DATABASE runplane ADD REGION "us-east-1";
ALTER DATABASE runplane ADD REGION "eu-central-1";
ALTER DATABASE runplane SURVIVE REGION FAILURE;

-- Every table stays REGIONAL BY TABLE in the primary region (the default):
-- leaseholders next to the functions, replicas in the other regions for
-- survival. Nothing is made GLOBAL: organizations (running count, token
-- bucket) and tokens (a job credential per claim) are written on every
-- claim and finish, and a GLOBAL table makes each such write wait out the
-- cluster's clock uncertainty.

-- Indexes keyed by a timestamp take every new entry on the newest range;
-- hash-sharding spreads those writes.
DROP INDEX runs@runs_pending_age;
CREATE INDEX runs_pending_age ON runs (created_at) USING HASH WHERE status = 'pending';
DROP INDEX jobs@jobs_lease_expiry;
CREATE INDEX jobs_lease_expiry ON jobs (lease_expires_at) USING HASH WHERE status = 'running';
DROP INDEX outbox@outbox_undelivered;
CREATE INDEX outbox_undelivered ON outbox (created_at) USING HASH WHERE delivered_at IS NULL;
