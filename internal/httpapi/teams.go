package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
)

type userJSON struct {
	ID        uuid.UUID `json:"id"`
	Username  string    `json:"username"`
	CreatedAt time.Time `json:"created_at"`
}

type teamJSON struct {
	ID        uuid.UUID  `json:"id"`
	Name      string     `json:"name"`
	Owners    bool       `json:"owners"`
	CreatedAt time.Time  `json:"created_at"`
	Members   []userJSON `json:"members,omitempty"`
}

func userView(u org.User) userJSON {
	return userJSON{ID: u.ID, Username: u.Username, CreatedAt: u.CreatedAt}
}

func teamView(t org.Team) teamJSON {
	return teamJSON{ID: t.ID, Name: t.Name, Owners: t.Owners, CreatedAt: t.CreatedAt}
}

// tokenBody is what creating a user's or a team's token takes.
type tokenBody struct {
	Description string     `json:"description"`
	ExpiresAt   *time.Time `json:"expires_at"`
}

func decodeTokenBody(w http.ResponseWriter, r *http.Request, optional bool) (tokenBody, error) {
	var body tokenBody
	if err := decode(w, r, &body, optional); err != nil {
		return body, err
	}
	if body.ExpiresAt != nil && !body.ExpiresAt.After(time.Now()) {
		return body, errorf(http.StatusBadRequest, "invalid_request", "expires_at must be in the future")
	}
	return body, nil
}

// writeSecret answers a new token, whose secret is shown this once.
func writeSecret(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, v)
}

// account says who the caller is and what it reaches as a whole.
func (a *api) account(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	writeJSON(w, http.StatusOK, map[string]any{
		"site_admin": p.SiteAdmin, "organization": p.OrgName, "token_id": p.TokenID, "role": p.Role,
		"user_id": p.UserID, "team_id": p.TeamID, "owner": p.Owner, "teams": p.Teams,
	})
	return nil
}

// errNotAUser: the account's tokens are a user's.
var errNotAUser = errorf(http.StatusForbidden, "forbidden", "only a user's token manages its user's tokens; owners manage organization and team tokens")

// createOwnToken makes another token for the calling user.
func (a *api) createOwnToken(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	if p.UserID == nil {
		return errNotAUser
	}
	body, err := decodeTokenBody(w, r, false)
	if err != nil {
		return err
	}
	t, err := a.Orgs.CreateUserTokenByID(r.Context(), p.OrgID, *p.UserID, body.Description, body.ExpiresAt)
	if err != nil {
		return err
	}
	writeSecret(w, http.StatusCreated, tokenView(t))
	return nil
}

// listOwnTokens lists the calling user's tokens, never their secrets.
func (a *api) listOwnTokens(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	if p.UserID == nil {
		return errNotAUser
	}
	list, err := a.Orgs.UserTokens(r.Context(), p.OrgID, *p.UserID)
	return writeItems(w, list, err, tokenView)
}

// revokeOwnToken revokes one of the calling user's tokens, at once.
func (a *api) revokeOwnToken(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	if p.UserID == nil {
		return errNotAUser
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := a.Orgs.RevokeUserToken(r.Context(), p.OrgID, *p.UserID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) inviteUser(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	var body struct {
		Username  string     `json:"username"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	u, t, err := a.Orgs.InviteUser(r.Context(), o.ID, body.Username, body.ExpiresAt)
	if err != nil {
		return err
	}
	writeSecret(w, http.StatusCreated, map[string]any{"user": userView(u), "token": tokenView(t)})
	return nil
}

func (a *api) listUsers(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	list, err := a.Orgs.Users(r.Context(), o.ID)
	return writeItems(w, list, err, userView)
}

func (a *api) removeUser(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	if err := a.Orgs.RemoveUser(r.Context(), o.ID, r.PathValue("user")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) createUserToken(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	body, err := decodeTokenBody(w, r, false)
	if err != nil {
		return err
	}
	t, err := a.Orgs.CreateUserToken(r.Context(), o.ID, r.PathValue("user"), body.Description, body.ExpiresAt)
	if err != nil {
		return err
	}
	writeSecret(w, http.StatusCreated, tokenView(t))
	return nil
}

func (a *api) createTeam(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	var body struct {
		Name string `json:"name"`
	}
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	t, err := a.Orgs.CreateTeam(r.Context(), o.ID, body.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, teamView(t))
	return nil
}

func (a *api) listTeams(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	list, err := a.Orgs.Teams(r.Context(), o.ID)
	return writeItems(w, list, err, teamView)
}

func (a *api) getTeam(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	t, members, err := a.Orgs.Team(r.Context(), o.ID, r.PathValue("team"))
	if err != nil {
		return err
	}
	v := teamView(t)
	v.Members = make([]userJSON, 0, len(members))
	for _, u := range members {
		v.Members = append(v.Members, userView(u))
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *api) deleteTeam(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	if err := a.Orgs.DeleteTeam(r.Context(), o.ID, r.PathValue("team")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) addTeamMember(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	return a.setMembership(w, r, p, true)
}

func (a *api) removeTeamMember(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	return a.setMembership(w, r, p, false)
}

func (a *api) setMembership(w http.ResponseWriter, r *http.Request, p org.Principal, member bool) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	if err := a.Orgs.SetMembership(r.Context(), o.ID, r.PathValue("team"), r.PathValue("user"), member); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) createTeamToken(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	body, err := decodeTokenBody(w, r, false)
	if err != nil {
		return err
	}
	t, err := a.Orgs.CreateTeamToken(r.Context(), o.ID, r.PathValue("team"), body.Description, body.ExpiresAt)
	if err != nil {
		return err
	}
	writeSecret(w, http.StatusCreated, tokenView(t))
	return nil
}

type teamAccessJSON struct {
	TeamID   uuid.UUID `json:"team_id"`
	TeamName string    `json:"team"`
	Access   string    `json:"access"`
}

func (a *api) listTeamAccess(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	list, err := a.Orgs.TeamAccessList(r.Context(), id)
	return writeItems(w, list, err, func(t org.TeamAccess) teamAccessJSON {
		return teamAccessJSON{TeamID: t.TeamID, TeamName: t.TeamName, Access: t.Access.String()}
	})
}

func (a *api) setTeamAccess(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var body struct {
		Access string `json:"access"`
	}
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	level, err := org.ParseLevel(body.Access)
	if err != nil {
		return err
	}
	if err := a.Orgs.SetTeamAccess(r.Context(), p.OrgID, id, r.PathValue("team"), level); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, teamAccessJSON{TeamName: r.PathValue("team"), Access: level.String()})
	return nil
}

func (a *api) removeTeamAccess(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := a.Orgs.SetTeamAccess(r.Context(), p.OrgID, id, r.PathValue("team"), org.LevelNone); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
