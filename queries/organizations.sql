-- name: OrganizationCreate :one
INSERT INTO organizations (name, max_concurrency, weight)
VALUES (@name, @max_concurrency, @weight)
RETURNING *;

-- name: OrganizationGetByName :one
SELECT * FROM organizations WHERE name = @name;

-- name: OrganizationUpdateLimits :one
UPDATE organizations SET
    max_concurrency = @max_concurrency, weight = @weight::INT,
    bucket_burst = @bucket_burst::INT, bucket_refill_per_second = @bucket_refill_per_second,
    tokens = LEAST(tokens, (@bucket_burst::INT)::FLOAT8)
WHERE name = @name
RETURNING *;

-- name: OrganizationCountQueued :one
SELECT count(*)::INT FROM runs
WHERE organization_id = @organization_id AND status IN ('plan_queued', 'apply_queued');
