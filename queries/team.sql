-- Users, teams and what teams reach (internal/org).

-- name: UserCreate :one
INSERT INTO users (organization_id, username) VALUES (@organization_id, @username)
RETURNING *;

-- name: UserGetByName :one
SELECT * FROM users WHERE organization_id = @organization_id AND username = @username;

-- name: UserList :many
SELECT * FROM users WHERE organization_id = @organization_id AND username > @after_name
ORDER BY username LIMIT @max_rows;

-- name: UserDelete :exec
DELETE FROM users WHERE id = @id;

-- name: TeamCreate :one
INSERT INTO teams (organization_id, name) VALUES (@organization_id, @name)
RETURNING *;

-- name: TeamGetByName :one
SELECT * FROM teams WHERE organization_id = @organization_id AND name = @name;

-- name: TeamList :many
SELECT * FROM teams WHERE organization_id = @organization_id AND name > @after_name
ORDER BY name LIMIT @max_rows;

-- name: TeamDelete :exec
DELETE FROM teams WHERE id = @id;

-- name: TeamMemberAdd :exec
INSERT INTO team_members (team_id, user_id) VALUES (@team_id, @user_id)
ON CONFLICT DO NOTHING;

-- name: TeamMemberRemove :execrows
DELETE FROM team_members WHERE team_id = @team_id AND user_id = @user_id;

-- name: TeamMembersPurgeTeam :exec
DELETE FROM team_members WHERE team_id = @team_id;

-- name: TeamMembersPurgeUser :exec
DELETE FROM team_members WHERE user_id = @user_id;

-- name: TeamMemberList :many
SELECT u.* FROM team_members m JOIN users u ON u.id = m.user_id
WHERE m.team_id = @team_id ORDER BY u.username;

-- name: TeamAccessSet :exec
INSERT INTO team_workspace_access (team_id, workspace_id, access) VALUES (@team_id, @workspace_id, @access)
ON CONFLICT (team_id, workspace_id) DO UPDATE SET access = excluded.access;

-- name: TeamAccessRemove :execrows
DELETE FROM team_workspace_access WHERE team_id = @team_id AND workspace_id = @workspace_id;

-- name: TeamAccessPurgeTeam :exec
DELETE FROM team_workspace_access WHERE team_id = @team_id;

-- name: TeamAccessListByWorkspace :many
SELECT t.id AS team_id, t.name AS team_name, a.access
FROM team_workspace_access a JOIN teams t ON t.id = a.team_id
WHERE a.workspace_id = @workspace_id ORDER BY t.name;

-- name: TeamAccessLevels :many
-- What the principal teams reach on one workspace; the caller takes the highest.
SELECT a.access FROM team_workspace_access a
WHERE a.workspace_id = @workspace_id AND a.team_id = ANY(@team_ids::UUID[]);

-- name: TeamAccessWorkspaceIDs :many
-- The workspaces among ids that the teams reach at all, for filtering lists.
SELECT DISTINCT a.workspace_id FROM team_workspace_access a
WHERE a.team_id = ANY(@team_ids::UUID[]) AND a.workspace_id = ANY(@workspace_ids::UUID[]);

-- name: TeamListForToken :many
-- The teams a team or user token acts as: its team, or its user's teams.
SELECT t.id, t.owners FROM teams t WHERE t.id = sqlc.narg(team_id)
UNION ALL
SELECT t.id, t.owners FROM team_members m JOIN teams t ON t.id = m.team_id
WHERE m.user_id = sqlc.narg(user_id);

-- name: TokenRevokeByHolder :many
UPDATE tokens SET revoked_at = now()
WHERE organization_id = @organization_id AND revoked_at IS NULL
    AND (user_id = sqlc.narg(user_id) OR team_id = sqlc.narg(team_id))
RETURNING id;

-- name: TokenListByUser :many
SELECT id, description, role, created_at, expires_at, created_by, user_id, team_id FROM tokens
WHERE organization_id = @organization_id AND user_id = @user_id AND revoked_at IS NULL
ORDER BY created_at, id;

-- name: TokenRevokeOfUser :execrows
UPDATE tokens SET revoked_at = now()
WHERE id = @id AND organization_id = @organization_id AND user_id = @user_id AND revoked_at IS NULL;

-- name: TokenHolderName :one
-- Who holds a token, as a page names them: a user, a team, or the token.
SELECT COALESCE(u.username, 'team ' || tm.name, t.description)::TEXT AS holder
FROM tokens t
LEFT JOIN users u ON u.id = t.user_id
LEFT JOIN teams tm ON tm.id = t.team_id
WHERE t.id = @id AND t.organization_id = @organization_id;

-- name: TeamGetByID :one
SELECT * FROM teams WHERE id = @id AND organization_id = @organization_id;
