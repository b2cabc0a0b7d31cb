package org

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/audit"
	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/fault"
)

var (
	// ErrForbidden: the principal may see the object but not do this to it.
	ErrForbidden = fault.New(fault.Forbidden, "forbidden", "your access does not allow this")
	// ErrRawStateNeedsWrite: raw state holds every sensitive value.
	ErrRawStateNeedsWrite = fault.New(fault.Forbidden, "forbidden", "raw state holds every sensitive value, so it needs write access; read access sees the outputs, sensitive ones masked")
	// ErrSiteAdminOutside: the site admin manages organizations, not their workspaces.
	ErrSiteAdminOutside = fault.New(fault.Forbidden, "forbidden", "the site-admin token manages organizations and their tokens; use an organization's token for its workspaces")
)

// Level is what a principal may do on one workspace; each includes the ones
// before it.
type Level int

const (
	// LevelNone: the workspace is not visible (answered as not found).
	LevelNone Level = iota
	// LevelRead: runs, logs, outputs (sensitive ones masked), variables.
	LevelRead
	// LevelPlan: also queue plan-only runs and upload configuration.
	LevelPlan
	// LevelWrite: also apply, confirm, discard and cancel runs, lock, read
	// and write raw state, change variables.
	LevelWrite
	// LevelAdmin: also settings, triggers, team access, force-unlock, delete.
	LevelAdmin
)

var levelNames = []string{"none", "read", "plan", "write", "admin"}

func (l Level) String() string { return levelNames[l] }

// ParseLevel reads a level a team may be granted.
func ParseLevel(s string) (Level, error) {
	i := slices.Index(levelNames, s)
	if i < int(LevelRead) {
		return LevelNone, fmt.Errorf("%w: access must be read, plan, write or admin", ErrInvalidAccess)
	}
	return Level(i), nil
}

// ErrInvalidAccess: an access level that does not exist.
var ErrInvalidAccess = fault.New(fault.Invalid, "invalid", "invalid access level")

// Role is what an organization token may do: read or write on every
// workspace, or admin, which makes it one of the organization's owners.
type Role string

const (
	RoleRead  Role = "read"
	RoleWrite Role = "write"
	RoleAdmin Role = "admin"
)

func (r Role) level() Level {
	switch r {
	case RoleRead:
		return LevelRead
	case RoleWrite:
		return LevelWrite
	case RoleAdmin:
		return LevelAdmin
	}
	return LevelNone
}

// Principal is the authenticated caller.
type Principal struct {
	SiteAdmin bool
	OrgID     uuid.UUID
	OrgName   string
	TokenID   uuid.UUID
	// Role is an organization token's role; empty for user and team tokens.
	Role Role
	// UserID or TeamID names the holder of a user's or a team's token.
	UserID, TeamID *uuid.UUID
	// Owner: the principal owns its organization (an admin organization
	// token, or a member of the owners team): admin on every workspace and
	// the organization's settings, tokens, teams and audit trail.
	Owner bool
	// Teams are the teams whose workspace access the principal has.
	Teams []uuid.UUID
	// WorkspaceID is set for a job credential: it reaches only this
	// workspace's state and the states that list it as a consumer.
	WorkspaceID *uuid.UUID
	// RunID is the run a job credential was issued to.
	RunID *uuid.UUID
	// Level is the principal's level on the workspace the request names,
	// set by Authorize.
	Level Level
}

// Member reports whether the principal belongs to an organization (the site
// admin does not).
func (p Principal) Member() bool { return !p.SiteAdmin && p.OrgID != uuid.Nil }

// Actor is p as the audit trail names it, acting from source.
func (p Principal) Actor(source string) audit.Actor {
	switch {
	case p.SiteAdmin:
		return audit.Actor{Kind: "site_admin", Source: source}
	case p.Scoped():
		return audit.Actor{Kind: "job", TokenID: &p.TokenID, Source: source}
	case p.UserID != nil:
		return audit.Actor{Kind: "user", TokenID: &p.TokenID, HolderID: p.UserID, Source: source}
	case p.TeamID != nil:
		return audit.Actor{Kind: "team", TokenID: &p.TokenID, HolderID: p.TeamID, Source: source}
	}
	return audit.Actor{Kind: "token", TokenID: &p.TokenID, Source: source}
}

// Scoped reports whether the principal is a job credential, limited to one
// workspace's state rather than the organization's API.
func (p Principal) Scoped() bool { return p.WorkspaceID != nil }

// Access is the principal's level on a workspace of its organization: the
// highest of its role's and its teams' grants. The caller has checked that
// the workspace is in p's organization.
func (s *Service) Access(ctx context.Context, p Principal, workspaceID uuid.UUID) (Level, error) {
	switch {
	case !p.Member() || p.Scoped():
		return LevelNone, nil
	case p.Owner:
		return LevelAdmin, nil
	}
	level := p.Role.level()
	if len(p.Teams) == 0 {
		return level, nil
	}
	grants, err := dbsqlc.New(s.db).TeamAccessLevels(ctx, dbsqlc.TeamAccessLevelsParams{WorkspaceID: workspaceID, TeamIds: p.Teams})
	if err != nil {
		return LevelNone, err
	}
	for _, g := range grants {
		if l, err := ParseLevel(g); err == nil && l > level {
			level = l
		}
	}
	return level, nil
}

// Require is Access as an error: not found when the workspace is not
// visible to p, forbidden when it is but the level is below need.
func (s *Service) Require(ctx context.Context, p Principal, workspaceID uuid.UUID, need Level) (Level, error) {
	if p.SiteAdmin {
		return LevelNone, ErrSiteAdminOutside
	}
	l, err := s.Access(ctx, p, workspaceID)
	switch {
	case err != nil:
		return l, err
	case l == LevelNone:
		return l, ErrWorkspaceHidden
	case l < need:
		return l, fmt.Errorf("%w: this needs %s access to the workspace; you have %s", ErrForbidden, need, l)
	}
	return l, nil
}

// MayQueue is the refinement of a run's need by its body: a plan-only run
// needs plan access (the route's need), one that may apply needs write.
func (p Principal) MayQueue(planOnly bool) error {
	if !planOnly && p.Level < LevelWrite {
		return fmt.Errorf("%w: a run that may apply needs write access; plan access queues plan-only runs", ErrForbidden)
	}
	return nil
}

// ErrWorkspaceHidden answers for a workspace the principal cannot see, as
// for one that does not exist.
var ErrWorkspaceHidden = fault.New(fault.NotFound, "not_found", "workspace not found")

// Visible keeps the workspaces of list that p can see at all; id names
// an item's workspace.
func Visible[T any](ctx context.Context, s *Service, p Principal, list []T, id func(T) uuid.UUID) ([]T, error) {
	if !p.Member() || p.Scoped() {
		return nil, nil
	}
	if p.Owner || p.Role.level() > LevelNone || len(list) == 0 {
		return list, nil
	}
	ids := make([]uuid.UUID, len(list))
	for i, item := range list {
		ids[i] = id(item)
	}
	seen, err := dbsqlc.New(s.db).TeamAccessWorkspaceIDs(ctx, dbsqlc.TeamAccessWorkspaceIDsParams{TeamIds: p.Teams, WorkspaceIds: ids})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(list, func(item T) bool { return !slices.Contains(seen, id(item)) }), nil
}

// Scope is whom an endpoint is for.
type Scope int

const (
	// ScopeAnyone: any valid token; the endpoint shows only what its
	// caller may see.
	ScopeAnyone Scope = iota
	// ScopeSiteAdmin: only the site admin.
	ScopeSiteAdmin
	// ScopeMember: any principal of the organization.
	ScopeMember
	// ScopeOwner: the organization's owners (and the site admin when the
	// need says so).
	ScopeOwner
	// ScopeWorkspace: a level on the workspace the request names.
	ScopeWorkspace
)

// Need is what an endpoint asks of its caller. Every endpoint of both APIs
// declares one in its route table, and Authorize is the one check.
type Need struct {
	Scope Scope
	// Level is the level ScopeWorkspace needs on the workspace.
	Level Level
	// SiteAdmin lets the site admin in too (ScopeOwner): how it sets up an
	// organization's tokens, users and teams and reads its audit trail.
	SiteAdmin bool
}

func (n Need) String() string {
	switch n.Scope {
	case ScopeSiteAdmin:
		return "site-admin"
	case ScopeMember:
		return "member"
	case ScopeOwner:
		if n.SiteAdmin {
			return "owner or site-admin"
		}
		return "owner"
	case ScopeWorkspace:
		return "workspace:" + n.Level.String()
	}
	return "anyone"
}

// OnWorkspace is the need of a level on the request's workspace.
func OnWorkspace(l Level) Need { return Need{Scope: ScopeWorkspace, Level: l} }

// Locator finds the workspace a request names, in the principal's
// organization (not found otherwise). uuid.Nil means the object belongs
// to the organization, not a workspace (a variable set's variable): then
// reading needs a member and changing an owner.
type Locator func() (uuid.UUID, error)

// Authorize checks p against need and returns p with Level set to its
// level on the request's workspace (for ScopeWorkspace).
func (s *Service) Authorize(ctx context.Context, p Principal, need Need, locate Locator) (Principal, error) {
	switch need.Scope {
	case ScopeAnyone:
		return p, nil
	case ScopeSiteAdmin:
		if !p.SiteAdmin {
			return p, fmt.Errorf("%w: only the site admin may do this", ErrForbidden)
		}
		return p, nil
	case ScopeOwner:
		if !(p.SiteAdmin && need.SiteAdmin) && !p.Owner {
			return p, fmt.Errorf("%w: only the organization's owners may do this", ErrForbidden)
		}
		return p, nil
	case ScopeMember:
		if p.SiteAdmin {
			return p, ErrSiteAdminOutside
		}
		return p, nil
	}
	if p.SiteAdmin {
		return p, ErrSiteAdminOutside
	}
	id, err := locate()
	if err != nil {
		return p, err
	}
	if id == uuid.Nil {
		if p.Level = p.Role.level(); p.Owner {
			p.Level = LevelAdmin
		}
		return p, authorizeOrganizationObject(p, need)
	}
	// Even an owner's request is located: the lookup, scoped to the
	// organization, is what keeps another organization's objects out.
	p.Level, err = s.Require(ctx, p, id, need.Level)
	return p, err
}

func authorizeOrganizationObject(p Principal, need Need) error {
	if need.Level >= LevelWrite && !p.Owner {
		return fmt.Errorf("%w: only the organization's owners change what belongs to the organization", ErrForbidden)
	}
	return nil
}
