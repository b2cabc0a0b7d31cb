package org

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/audit"
	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/fault"
	"github.com/runplane/runplane/internal/validate"
)

var (
	ErrUserNotFound = fault.New(fault.NotFound, "not_found", "user not found")
	ErrTeamNotFound = fault.New(fault.NotFound, "not_found", "team not found")
	ErrUserExists   = fault.New(fault.Conflict, "already_exists", "a user with this name already exists")
	ErrTeamExists   = fault.New(fault.Conflict, "already_exists", "a team with this name already exists")
	// ErrOwnersTeam: the owners team is the organization's own; it stays.
	ErrOwnersTeam = fault.New(fault.Conflict, "owners_team", "the owners team cannot be deleted or given workspace access (it has admin on every workspace)")
)

// OwnersTeam is the name of the team every organization starts with.
const OwnersTeam = "owners"

// User is a person in an organization, who acts through their own tokens.
type User struct {
	ID        uuid.UUID
	Username  string
	CreatedAt time.Time
}

// Team is a set of users, and the workspaces they reach together.
type Team struct {
	ID        uuid.UUID
	Name      string
	Owners    bool
	CreatedAt time.Time
}

// TeamAccess is one team's level on one workspace.
type TeamAccess struct {
	TeamID   uuid.UUID
	TeamName string
	Access   Level
}

func userView(u dbsqlc.User) User {
	return User{ID: u.ID, Username: u.Username, CreatedAt: u.CreatedAt.UTC()}
}

func teamView(t dbsqlc.Team) Team {
	return Team{ID: t.ID, Name: t.Name, Owners: t.Owners, CreatedAt: t.CreatedAt.UTC()}
}

// maxListed bounds a list of users or teams.
const maxListed = 1000

// InviteUser makes a user and their first token, whose secret is shown once;
// handing it over is the inviter's part (sign-in by SSO would replace it).
func (s *Service) InviteUser(ctx context.Context, orgID uuid.UUID, username string, expiresAt *time.Time) (User, Token, error) {
	if err := validate.Name(username); err != nil {
		return User{}, Token{}, err
	}
	var u User
	var t Token
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		row, err := q.UserCreate(ctx, dbsqlc.UserCreateParams{OrganizationID: orgID, Username: username})
		if dbtx.IsUniqueViolation(err) {
			return fmt.Errorf("%w: %s", ErrUserExists, username)
		}
		if err != nil {
			return err
		}
		u = userView(row)
		if err := record(ctx, q, orgID, "user.invited", "user", u.ID, map[string]any{"username": username}); err != nil {
			return err
		}
		t, err = s.createHolderToken(ctx, q, orgID, "first token of "+username, TokenScope{UserID: &u.ID, ExpiresAt: expiresAt})
		return err
	})
	return u, t, err
}

// CreateUserToken makes another token for a user.
func (s *Service) CreateUserToken(ctx context.Context, orgID uuid.UUID, username, description string, expiresAt *time.Time) (Token, error) {
	var t Token
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		u, err := q.UserGetByName(ctx, dbsqlc.UserGetByNameParams{OrganizationID: orgID, Username: username})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrUserNotFound
		}
		if err != nil {
			return err
		}
		t, err = s.createHolderToken(ctx, q, orgID, description, TokenScope{UserID: &u.ID, ExpiresAt: expiresAt})
		return err
	})
	return t, err
}

// CreateUserTokenByID makes another token for a user, who asked for it.
func (s *Service) CreateUserTokenByID(ctx context.Context, orgID, userID uuid.UUID, description string, expiresAt *time.Time) (Token, error) {
	var t Token
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		var err error
		t, err = s.createHolderToken(ctx, q, orgID, description, TokenScope{UserID: &userID, ExpiresAt: expiresAt})
		return err
	})
	return t, err
}

// UserTokens lists a user's live tokens, oldest first, without secrets.
func (s *Service) UserTokens(ctx context.Context, orgID, userID uuid.UUID) ([]Token, error) {
	rows, err := dbsqlc.New(s.db).TokenListByUser(ctx, dbsqlc.TokenListByUserParams{OrganizationID: orgID, UserID: &userID})
	out := make([]Token, 0, len(rows))
	for _, r := range rows {
		out = append(out, tokenView(dbsqlc.TokenGetRow(r)))
	}
	return out, err
}

// RevokeUserToken revokes one of a user's own tokens.
func (s *Service) RevokeUserToken(ctx context.Context, orgID, userID, id uuid.UUID) error {
	return dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		n, err := q.TokenRevokeOfUser(ctx, dbsqlc.TokenRevokeOfUserParams{ID: id, OrganizationID: orgID, UserID: &userID})
		if err == nil && n == 0 {
			return ErrTokenNotFound
		}
		if err != nil {
			return err
		}
		return recordToken(ctx, q, orgID, "token.revoked", id, nil)
	})
}

// HolderName names who holds a token of the organization: the user's
// name, "team <name>", or the token's description.
func (s *Service) HolderName(ctx context.Context, orgID, tokenID uuid.UUID) (string, error) {
	name, err := dbsqlc.New(s.db).TokenHolderName(ctx, dbsqlc.TokenHolderNameParams{ID: tokenID, OrganizationID: orgID})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrTokenNotFound
	}
	return name, err
}

// CreateTeamToken makes a token that acts as the team (for CI).
func (s *Service) CreateTeamToken(ctx context.Context, orgID uuid.UUID, team, description string, expiresAt *time.Time) (Token, error) {
	var t Token
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		tm, err := teamByName(ctx, q, orgID, team)
		if err != nil {
			return err
		}
		t, err = s.createHolderToken(ctx, q, orgID, description, TokenScope{TeamID: &tm.ID, ExpiresAt: expiresAt})
		return err
	})
	return t, err
}

func (s *Service) createHolderToken(ctx context.Context, q *dbsqlc.Queries, orgID uuid.UUID, description string, scope TokenScope) (Token, error) {
	scope.CreatedBy = audit.TokenOf(ctx)
	t, err := CreateTokenTx(ctx, q, orgID, description, "", scope)
	if err != nil {
		return t, err
	}
	return t, recordToken(ctx, q, orgID, "token.created", t.ID, map[string]any{"description": description, "user_id": scope.UserID, "team_id": scope.TeamID, "expires_at": scope.ExpiresAt})
}

// Users lists the organization's users by name.
func (s *Service) Users(ctx context.Context, orgID uuid.UUID) ([]User, error) {
	rows, err := dbsqlc.New(s.db).UserList(ctx, dbsqlc.UserListParams{OrganizationID: orgID, MaxRows: maxListed})
	out := make([]User, 0, len(rows))
	for _, r := range rows {
		out = append(out, userView(r))
	}
	return out, err
}

// RemoveUser deletes a user: their tokens stop at once, their memberships go.
func (s *Service) RemoveUser(ctx context.Context, orgID uuid.UUID, username string) error {
	return dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		u, err := q.UserGetByName(ctx, dbsqlc.UserGetByNameParams{OrganizationID: orgID, Username: username})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrUserNotFound
		}
		if err != nil {
			return err
		}
		if err := revokeHolderTokens(ctx, q, orgID, &u.ID, nil); err != nil {
			return err
		}
		if err := q.TeamMembersPurgeUser(ctx, u.ID); err != nil {
			return err
		}
		if err := q.UserDelete(ctx, u.ID); err != nil {
			return err
		}
		return record(ctx, q, orgID, "user.removed", "user", u.ID, map[string]any{"username": username})
	})
}

func revokeHolderTokens(ctx context.Context, q *dbsqlc.Queries, orgID uuid.UUID, userID, teamID *uuid.UUID) error {
	ids, err := q.TokenRevokeByHolder(ctx, dbsqlc.TokenRevokeByHolderParams{OrganizationID: orgID, UserID: userID, TeamID: teamID})
	for _, id := range ids {
		if err == nil {
			err = recordToken(ctx, q, orgID, "token.revoked", id, map[string]any{"reason": "holder removed"})
		}
	}
	return err
}

// CreateTeam makes a team with no members and no access.
func (s *Service) CreateTeam(ctx context.Context, orgID uuid.UUID, name string) (Team, error) {
	if err := validate.Name(name); err != nil {
		return Team{}, err
	}
	var t Team
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		row, err := q.TeamCreate(ctx, dbsqlc.TeamCreateParams{OrganizationID: orgID, Name: name})
		if dbtx.IsUniqueViolation(err) {
			return fmt.Errorf("%w: %s", ErrTeamExists, name)
		}
		if err != nil {
			return err
		}
		t = teamView(row)
		return record(ctx, q, orgID, "team.created", "team", t.ID, map[string]any{"name": name})
	})
	return t, err
}

// Teams lists the organization's teams by name.
func (s *Service) Teams(ctx context.Context, orgID uuid.UUID) ([]Team, error) {
	rows, err := dbsqlc.New(s.db).TeamList(ctx, dbsqlc.TeamListParams{OrganizationID: orgID, MaxRows: maxListed})
	out := make([]Team, 0, len(rows))
	for _, r := range rows {
		out = append(out, teamView(r))
	}
	return out, err
}

// Team returns a team and its members.
func (s *Service) Team(ctx context.Context, orgID uuid.UUID, name string) (Team, []User, error) {
	q := dbsqlc.New(s.db)
	t, err := teamByName(ctx, q, orgID, name)
	if err != nil {
		return Team{}, nil, err
	}
	rows, err := q.TeamMemberList(ctx, t.ID)
	members := make([]User, 0, len(rows))
	for _, r := range rows {
		members = append(members, userView(r))
	}
	return teamView(t), members, err
}

// TeamByID returns a team and its members.
func (s *Service) TeamByID(ctx context.Context, orgID, id uuid.UUID) (Team, []User, error) {
	t, err := dbsqlc.New(s.db).TeamGetByID(ctx, dbsqlc.TeamGetByIDParams{ID: id, OrganizationID: orgID})
	if errors.Is(err, pgx.ErrNoRows) {
		return Team{}, nil, ErrTeamNotFound
	}
	if err != nil {
		return Team{}, nil, err
	}
	return s.Team(ctx, orgID, t.Name)
}

// DeleteTeam deletes a team: its tokens stop, its members and access go.
func (s *Service) DeleteTeam(ctx context.Context, orgID uuid.UUID, name string) error {
	return dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		t, err := teamByName(ctx, q, orgID, name)
		if err != nil {
			return err
		}
		if t.Owners {
			return ErrOwnersTeam
		}
		for _, step := range []func() error{
			func() error { return revokeHolderTokens(ctx, q, orgID, nil, &t.ID) },
			func() error { return q.TeamMembersPurgeTeam(ctx, t.ID) },
			func() error { return q.TeamAccessPurgeTeam(ctx, t.ID) },
			func() error { return q.TeamDelete(ctx, t.ID) },
		} {
			if err := step(); err != nil {
				return err
			}
		}
		return record(ctx, q, orgID, "team.deleted", "team", t.ID, map[string]any{"name": name})
	})
}

// SetMembership adds a user to a team, or removes them.
func (s *Service) SetMembership(ctx context.Context, orgID uuid.UUID, team, username string, member bool) error {
	return dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		t, err := teamByName(ctx, q, orgID, team)
		if err != nil {
			return err
		}
		u, err := q.UserGetByName(ctx, dbsqlc.UserGetByNameParams{OrganizationID: orgID, Username: username})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrUserNotFound
		}
		if err != nil {
			return err
		}
		action := "team.member_added"
		if member {
			err = q.TeamMemberAdd(ctx, dbsqlc.TeamMemberAddParams{TeamID: t.ID, UserID: u.ID})
		} else {
			action = "team.member_removed"
			var n int64
			if n, err = q.TeamMemberRemove(ctx, dbsqlc.TeamMemberRemoveParams{TeamID: t.ID, UserID: u.ID}); err == nil && n == 0 {
				err = ErrUserNotFound
			}
		}
		if err != nil {
			return err
		}
		return record(ctx, q, orgID, action, "team", t.ID, map[string]any{"team": team, "username": username})
	})
}

// SetTeamAccess gives a team a level on a workspace (LevelNone takes it away).
func (s *Service) SetTeamAccess(ctx context.Context, orgID, workspaceID uuid.UUID, team string, level Level) error {
	return dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		t, err := teamByName(ctx, q, orgID, team)
		if err != nil {
			return err
		}
		if t.Owners {
			return ErrOwnersTeam
		}
		if level == LevelNone {
			if _, err := q.TeamAccessRemove(ctx, dbsqlc.TeamAccessRemoveParams{TeamID: t.ID, WorkspaceID: workspaceID}); err != nil {
				return err
			}
		} else if err := q.TeamAccessSet(ctx, dbsqlc.TeamAccessSetParams{TeamID: t.ID, WorkspaceID: workspaceID, Access: level.String()}); err != nil {
			return err
		}
		return record(ctx, q, orgID, "workspace.team_access_set", "workspace", workspaceID, map[string]any{"team": team, "access": level.String()})
	})
}

// TeamAccessList is which teams reach a workspace, and how.
func (s *Service) TeamAccessList(ctx context.Context, workspaceID uuid.UUID) ([]TeamAccess, error) {
	rows, err := dbsqlc.New(s.db).TeamAccessListByWorkspace(ctx, workspaceID)
	out := make([]TeamAccess, 0, len(rows))
	for _, r := range rows {
		l, _ := ParseLevel(r.Access)
		out = append(out, TeamAccess{TeamID: r.TeamID, TeamName: r.TeamName, Access: l})
	}
	return out, err
}

func teamByName(ctx context.Context, q *dbsqlc.Queries, orgID uuid.UUID, name string) (dbsqlc.Team, error) {
	t, err := q.TeamGetByName(ctx, dbsqlc.TeamGetByNameParams{OrganizationID: orgID, Name: name})
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrTeamNotFound
	}
	return t, err
}

// record adds a change to the audit trail.
func record(ctx context.Context, q *dbsqlc.Queries, orgID uuid.UUID, action, kind string, id uuid.UUID, detail map[string]any) error {
	return audit.Record(ctx, q, orgID, audit.Change{Action: action, ObjectKind: kind, ObjectID: &id, Detail: detail})
}
