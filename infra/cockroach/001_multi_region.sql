-- CockroachDB-only DDL, applied after `runplane migrate` (DESIGN §8). sqlc
-- never reads this folder. Replace the regions with your cluster's.

ALTER DATABASE runplane SET PRIMARY REGION "eu-west-1";
ALTER DATABASE runplane ADD REGION "us-east-1";
ALTER DATABASE runplane SURVIVE REGION FAILURE;

-- Organizations and tokens are read on every request from every region.
ALTER TABLE organizations SET LOCALITY GLOBAL;
ALTER TABLE tokens SET LOCALITY GLOBAL;

-- Workspaces and runs live in their organization's home region.
ALTER TABLE workspaces SET LOCALITY REGIONAL BY ROW;
ALTER TABLE runs SET LOCALITY REGIONAL BY ROW;

-- The tick scans pending runs by age; hash-sharding spreads the writes that
-- would otherwise all land on the newest range.
DROP INDEX runs@runs_pending_age;
CREATE INDEX runs_pending_age ON runs (created_at) USING HASH WHERE status = 'pending';
