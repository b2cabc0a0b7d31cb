-- +goose Up
-- People and teams. A user belongs to one organization (a person in two
-- organizations has a user in each); a team's members are users; a team
-- reaches workspaces through team_workspace_access, one level per workspace.
-- The owners team, made with its organization, reaches everything.
CREATE TABLE users (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    username        TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (organization_id, username)
);

CREATE TABLE teams (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    owners          BOOL NOT NULL DEFAULT false,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (organization_id, name)
);

CREATE TABLE team_members (
    team_id UUID NOT NULL REFERENCES teams (id),
    user_id UUID NOT NULL REFERENCES users (id),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE team_workspace_access (
    team_id      UUID NOT NULL REFERENCES teams (id),
    workspace_id UUID NOT NULL REFERENCES workspaces (id),
    access       TEXT NOT NULL CHECK (access IN ('read', 'plan', 'write', 'admin')),
    PRIMARY KEY (team_id, workspace_id)
);
CREATE INDEX team_workspace_access_workspace ON team_workspace_access (workspace_id);

-- A token is an organization's (with a role), a user's or a team's (whose
-- reach is the teams'); not a foreign key, like created_by: the row outlives
-- a deleted user or team, to say who had it, and stops authenticating.
ALTER TABLE tokens ADD COLUMN user_id UUID;
ALTER TABLE tokens ADD COLUMN team_id UUID;
ALTER TABLE tokens ALTER COLUMN role DROP NOT NULL;
ALTER TABLE tokens ADD CONSTRAINT tokens_one_holder
    CHECK ((role IS NOT NULL AND user_id IS NULL AND team_id IS NULL)
        OR (role IS NULL AND (user_id IS NULL) <> (team_id IS NULL)));

INSERT INTO teams (organization_id, name, owners) SELECT id, 'owners', true FROM organizations;

-- +goose Down
ALTER TABLE tokens DROP CONSTRAINT tokens_one_holder;
DELETE FROM tokens WHERE role IS NULL;
ALTER TABLE tokens ALTER COLUMN role SET NOT NULL;
ALTER TABLE tokens DROP COLUMN team_id;
ALTER TABLE tokens DROP COLUMN user_id;
DROP TABLE team_workspace_access;
DROP TABLE team_members;
DROP TABLE teams;
DROP TABLE users;
