-- name: OrganizationCreate :one
INSERT INTO organizations (name, max_concurrency, weight)
VALUES (@name, @max_concurrency, @weight)
RETURNING *;

-- name: OrganizationGetByName :one
SELECT * FROM organizations WHERE name = @name;

-- name: OrganizationUpdateLimits :one
UPDATE organizations SET max_concurrency = @max_concurrency, weight = @weight
WHERE name = @name
RETURNING *;
