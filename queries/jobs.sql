-- The server side of the agent protocol (internal/jobs): jobs, leases, logs,
-- artifacts, and the fair-share claim over organizations. The agent API is
-- site-wide (one agent pool serves every organization), so jobs are found by
-- id; the lease token is what authorizes a call.

-- name: JobCreate :one
INSERT INTO jobs (organization_id, workspace_id, run_id, phase, lease_token, lease_expires_at, status, agent)
VALUES (@organization_id, @workspace_id, @run_id, @phase, @lease_token, @lease_expires_at, 'running', @agent)
RETURNING *;

-- name: JobGetForUpdate :one
SELECT * FROM jobs WHERE id = @id FOR NO KEY UPDATE;

-- name: JobExtendLease :one
-- A lease lives until the reaper ends it: an expiry that passed while the
-- database was unreachable is no fault of the agent, and until the reaper
-- has come by nobody else holds the job.
-- Running is tested as finished_at IS NULL (see jobs_finished_iff_not_running).
UPDATE jobs SET lease_expires_at = @lease_expires_at
WHERE id = @id AND lease_token = @lease_token AND finished_at IS NULL
RETURNING *;

-- name: JobLeasesCredit :execrows
-- Credits every running lease with time the platform was out.
UPDATE jobs SET lease_expires_at = lease_expires_at + @credit::INTERVAL
WHERE status = 'running';

-- name: SchedulerClockGet :one
SELECT ticked_at FROM scheduler_clock WHERE id = 1 FOR UPDATE;

-- name: SchedulerClockSet :exec
INSERT INTO scheduler_clock (id, ticked_at) VALUES (1, @ticked_at)
ON CONFLICT (id) DO UPDATE SET ticked_at = excluded.ticked_at;

-- name: JobEnd :execrows
-- Running is tested as finished_at IS NULL (see jobs_finished_iff_not_running).
UPDATE jobs SET status = @status, finished_at = @now::TIMESTAMPTZ, terraform_ms = @terraform_ms
WHERE id = @id AND finished_at IS NULL;

-- name: JobListExpired :many
SELECT id FROM jobs
WHERE status = 'running' AND lease_expires_at < @now
ORDER BY lease_expires_at
LIMIT @max_rows;

-- name: JobSetLogSize :exec
UPDATE jobs SET log_size = @log_size WHERE id = @id;

-- name: JobLatestByRunPhase :one
SELECT * FROM jobs
WHERE run_id = @run_id AND organization_id = @organization_id AND phase = @phase
ORDER BY created_at DESC
LIMIT 1;

-- name: JobListByRun :many
SELECT * FROM jobs WHERE run_id = @run_id AND organization_id = @organization_id ORDER BY created_at;

-- name: JobLogChunkAdd :exec
INSERT INTO job_log_chunks (job_id, organization_id, byte_offset, data)
VALUES (@job_id, @organization_id, @byte_offset, @data);

-- name: RunArtifactPut :exec
INSERT INTO run_artifacts (run_id, name, organization_id, job_id, id, sha256, size, blob_key, key_id, wrapped_key)
VALUES (@run_id, @name, @organization_id, @job_id, @id, @sha256, @size, @blob_key, @key_id, @wrapped_key)
ON CONFLICT (run_id, name) DO UPDATE SET
    job_id = excluded.job_id, id = excluded.id, sha256 = excluded.sha256, size = excluded.size,
    blob_key = excluded.blob_key, key_id = excluded.key_id, wrapped_key = excluded.wrapped_key,
    created_at = now();

-- name: RunArtifactGet :one
SELECT * FROM run_artifacts WHERE run_id = @run_id AND organization_id = @organization_id AND name = @name;

-- The platform's agents claim unpooled runs only.

-- name: RunClaimApply :one
SELECT * FROM runs WHERE organization_id = @organization_id AND status = 'apply_queued' AND agent_pool_id IS NULL
ORDER BY queued_at LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED;

-- name: RunClaimPlan :one
SELECT * FROM runs WHERE organization_id = @organization_id AND status = 'plan_queued' AND NOT plan_only AND agent_pool_id IS NULL
ORDER BY queued_at LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED;

-- name: RunClaimSpeculative :one
SELECT * FROM runs WHERE organization_id = @organization_id AND status = 'plan_queued' AND plan_only AND agent_pool_id IS NULL
ORDER BY queued_at LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED;

-- An agent pool claims its own runs only.

-- name: RunClaimPoolApply :one
SELECT * FROM runs WHERE agent_pool_id = @agent_pool_id::UUID AND status = 'apply_queued'
ORDER BY queued_at LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED;

-- name: RunClaimPoolPlan :one
SELECT * FROM runs WHERE agent_pool_id = @agent_pool_id::UUID AND status = 'plan_queued' AND NOT plan_only
ORDER BY queued_at LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED;

-- name: RunClaimPoolSpeculative :one
SELECT * FROM runs WHERE agent_pool_id = @agent_pool_id::UUID AND status = 'plan_queued' AND plan_only
ORDER BY queued_at LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED;

-- name: OrganizationClaimCandidates :many
-- Organizations with waiting jobs and room under their cap, least loaded
-- (running / weight) first, then the one waiting longest, after the given
-- place in that order: the first entries of organization_queues_rank,
-- however many organizations wait.
SELECT sqlc.embed(o), oq.share, oq.waiting_since::TIMESTAMPTZ AS waiting_since
FROM organization_queues oq
JOIN organizations o ON o.id = oq.organization_id
WHERE oq.waiting_since IS NOT NULL AND NOT oq.at_cap
  AND (oq.share, oq.waiting_since, oq.organization_id) > (@after_share::FLOAT8, @after_waiting_since::TIMESTAMPTZ, @after_id::UUID)
ORDER BY oq.share, oq.waiting_since, oq.organization_id
LIMIT @max_rows;

-- name: OrganizationLockForClaim :one
-- No row while another claim of the organization holds it: the claimer
-- moves on instead of waiting to be aborted.
SELECT * FROM organizations WHERE id = @id FOR NO KEY UPDATE SKIP LOCKED;

-- name: OrganizationSpendToken :exec
-- The bucket after the claim's lazy refill, minus the token it spends.
UPDATE organizations SET tokens = @tokens, tokens_at = @tokens_at WHERE id = @id;

-- name: OrganizationListWaiting :many
-- The first max_rows organizations of the claim's ranking, each with its
-- waiting jobs counted up to max_rows or its room under its cap.
SELECT sqlc.embed(o),
    (SELECT count(*) FROM (
        SELECT 1 FROM runs r
        WHERE r.organization_id = o.id AND r.status IN ('plan_queued', 'apply_queued') AND r.agent_pool_id IS NULL
        LIMIT LEAST(@max_rows, o.max_concurrency - o.running)) AS waiting)::INT AS waiting
FROM organization_queues oq
JOIN organizations o ON o.id = oq.organization_id
WHERE oq.waiting_since IS NOT NULL AND NOT oq.at_cap
ORDER BY oq.share, oq.waiting_since, oq.organization_id
LIMIT @max_rows;

-- name: OrganizationLockForJob :exec
SELECT o.id FROM organizations o
WHERE o.id = (SELECT j.organization_id FROM jobs j WHERE j.id = @job_id)
FOR NO KEY UPDATE OF o;

-- name: JobSetLogKey :one
-- The first chunk of a job's log sets its data key; a racing first chunk
-- finds it set and uses the one that won.
UPDATE jobs SET log_key_id = @log_key_id, log_wrapped_key = @log_wrapped_key
WHERE id = @id AND log_wrapped_key IS NULL
RETURNING *;

-- name: JobLogChunkList :many
SELECT byte_offset, data FROM job_log_chunks
WHERE job_id = @job_id AND organization_id = @organization_id
ORDER BY byte_offset;

-- name: JobLogChunksDelete :exec
DELETE FROM job_log_chunks WHERE job_id = @job_id AND organization_id = @organization_id;

-- name: JobLogPut :exec
INSERT INTO job_logs (job_id, organization_id, id, sha256, size, blob_key, key_id, wrapped_key)
VALUES (@job_id, @organization_id, @id, @sha256, @size, @blob_key, @key_id, @wrapped_key)
ON CONFLICT (job_id) DO NOTHING;

-- name: JobLogGet :one
SELECT * FROM job_logs WHERE job_id = @job_id AND organization_id = @organization_id;

-- name: JobGet :one
SELECT * FROM jobs WHERE id = @id;

-- name: JobCountRunning :one
-- Jobs agents hold now; the partial index on running jobs answers it.
SELECT count(*) FROM jobs WHERE status = 'running';
