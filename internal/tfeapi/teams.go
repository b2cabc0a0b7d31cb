package tfeapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/validate"
)

// Teams and their workspace access as go-tfe and the tfe provider manage
// them. Organization-level access is the owners team's alone, so a team's
// organization-access is all false but for owners; custom access levels
// are refused.

type teamResource struct {
	ID                 string              `jsonapi:"primary,teams"`
	Name               string              `jsonapi:"attr,name"`
	Visibility         string              `jsonapi:"attr,visibility"`
	UsersCount         int                 `jsonapi:"attr,users-count"`
	OrganizationAccess *organizationAccess `jsonapi:"attr,organization-access"`
}

type organizationAccess struct {
	ManageWorkspaces bool `json:"manage-workspaces"`
	ManagePolicies   bool `json:"manage-policies"`
	ManageVCS        bool `json:"manage-vcs-settings"`
}

func teamView(t org.Team, members int) *teamResource {
	return &teamResource{ID: t.ID.String(), Name: t.Name, Visibility: "organization", UsersCount: members,
		OrganizationAccess: &organizationAccess{ManageWorkspaces: t.Owners, ManagePolicies: t.Owners, ManageVCS: t.Owners}}
}

func (a *api) listTeams(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	number, size, err := pageParams(r)
	if err != nil {
		return err
	}
	teams, err := a.Orgs.Teams(r.Context(), o.ID)
	if err != nil {
		return err
	}
	items := []any{}
	for _, t := range pageOf(teams, number, size) {
		_, members, err := a.Orgs.Team(r.Context(), o.ID, t.Name)
		if err != nil {
			return err
		}
		items = append(items, teamView(t, len(members)))
	}
	return writeMany(w, items, number, size, len(teams))
}

func (a *api) createTeam(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	var in struct {
		ID   string `jsonapi:"primary,teams"`
		Name string `jsonapi:"attr,name"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	t, err := a.Orgs.CreateTeam(r.Context(), o.ID, in.Name)
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, teamView(t, 0))
}

// pathTeam is the team of the path, with its members.
func (a *api) pathTeam(r *http.Request, p org.Principal) (org.Team, []org.User, error) {
	id, err := pathUUID(r, "id")
	if err != nil {
		return org.Team{}, nil, err
	}
	return a.Orgs.TeamByID(r.Context(), p.OrgID, id)
}

func (a *api) getTeam(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	t, members, err := a.pathTeam(r, p)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, teamView(t, len(members)))
}

func (a *api) deleteTeam(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	t, _, err := a.pathTeam(r, p)
	if err != nil {
		return err
	}
	if err := a.Orgs.DeleteTeam(r.Context(), p.OrgID, t.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type teamAccessResource struct {
	ID        string             `jsonapi:"primary,team-workspaces"`
	Access    string             `jsonapi:"attr,access"`
	Team      *teamResource      `jsonapi:"relation,team"`
	Workspace *workspaceResource `jsonapi:"relation,workspace"`
}

// teamAccessID names a team's access to a workspace: the team's id, a
// dot, the workspace's.
func teamAccessID(team, workspace uuid.UUID) string { return team.String() + "." + workspace.String() }

func parseTeamAccessID(s string) (team, workspace uuid.UUID, err error) {
	t, w, ok := strings.Cut(s, ".")
	if team, err = uuid.Parse(t); ok && err == nil {
		workspace, err = uuid.Parse(w)
	}
	if !ok || err != nil {
		return team, workspace, fmt.Errorf("%w: no team access %q", errNotFound, s)
	}
	return team, workspace, nil
}

func teamAccessView(a org.TeamAccess, workspaceID uuid.UUID) *teamAccessResource {
	return &teamAccessResource{ID: teamAccessID(a.TeamID, workspaceID), Access: a.Access.String(),
		Team: &teamResource{ID: a.TeamID.String()}, Workspace: &workspaceResource{ID: workspaceID.String()}}
}

// teamAccess finds one team's access to a workspace.
func (a *api) teamAccess(r *http.Request, team, workspace uuid.UUID) (org.TeamAccess, error) {
	list, err := a.Orgs.TeamAccessList(r.Context(), workspace)
	if err != nil {
		return org.TeamAccess{}, err
	}
	for _, t := range list {
		if t.TeamID == team {
			return t, nil
		}
	}
	return org.TeamAccess{}, fmt.Errorf("%w: the team has no access to the workspace", errNotFound)
}

func (a *api) listTeamAccess(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	ws, err := uuid.Parse(r.URL.Query().Get("filter[workspace][id]"))
	if err != nil {
		return validate.Errorf("filter[workspace][id] is required")
	}
	list, err := a.Orgs.TeamAccessList(r.Context(), ws)
	if err != nil {
		return err
	}
	items := []any{}
	for _, t := range list {
		items = append(items, teamAccessView(t, ws))
	}
	return writeMany(w, items, 1, max(1, len(items)), len(items))
}

// accessInput is a team access's level, as added or changed.
type accessInput struct {
	ID        string             `jsonapi:"primary,team-workspaces"`
	Access    string             `jsonapi:"attr,access"`
	Team      *teamResource      `jsonapi:"relation,team"`
	Workspace *workspaceResource `jsonapi:"relation,workspace"`
}

func (in accessInput) level() (org.Level, error) {
	if in.Access == "custom" {
		return org.LevelNone, validate.Errorf("custom access is not supported; grant read, plan, write or admin")
	}
	return org.ParseLevel(in.Access)
}

func (a *api) addTeamAccess(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	var in accessInput
	if err := decode(r, &in); err != nil {
		return err
	}
	level, err := in.level()
	if err != nil {
		return err
	}
	if in.Team == nil || in.Workspace == nil {
		return validate.Errorf("a team access needs its team and workspace relationships")
	}
	team, err := uuid.Parse(in.Team.ID)
	if err != nil {
		return fmt.Errorf("%w: no team %q", errNotFound, in.Team.ID)
	}
	ws, err := uuid.Parse(in.Workspace.ID) // found by the access check already
	if err != nil {
		return fmt.Errorf("%w: no workspace %q", errNotFound, in.Workspace.ID)
	}
	return a.setTeamAccess(w, r, p, team, ws, level, http.StatusCreated)
}

func (a *api) updateTeamAccess(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	team, ws, err := parseTeamAccessID(r.PathValue("id"))
	if err != nil {
		return err
	}
	var in accessInput
	if err := decode(r, &in); err != nil {
		return err
	}
	level, err := in.level()
	if err != nil {
		return err
	}
	if _, err := a.teamAccess(r, team, ws); err != nil {
		return err
	}
	return a.setTeamAccess(w, r, p, team, ws, level, http.StatusOK)
}

func (a *api) setTeamAccess(w http.ResponseWriter, r *http.Request, p org.Principal, team, ws uuid.UUID, level org.Level, status int) error {
	t, _, err := a.Orgs.TeamByID(r.Context(), p.OrgID, team)
	if err != nil {
		return err
	}
	if err := a.Orgs.SetTeamAccess(r.Context(), p.OrgID, ws, t.Name, level); err != nil {
		return err
	}
	return write(w, status, teamAccessView(org.TeamAccess{TeamID: team, TeamName: t.Name, Access: level}, ws))
}

func (a *api) getTeamAccess(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	team, ws, err := parseTeamAccessID(r.PathValue("id"))
	if err != nil {
		return err
	}
	t, err := a.teamAccess(r, team, ws)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, teamAccessView(t, ws))
}

func (a *api) removeTeamAccess(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	team, ws, err := parseTeamAccessID(r.PathValue("id"))
	if err != nil {
		return err
	}
	t, err := a.teamAccess(r, team, ws)
	if err != nil {
		return err
	}
	if err := a.Orgs.SetTeamAccess(r.Context(), p.OrgID, ws, t.TeamName, org.LevelNone); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
