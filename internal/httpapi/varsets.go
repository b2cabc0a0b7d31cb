package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/variable"
)

type varsetJSON struct {
	ID           uuid.UUID   `json:"id"`
	Name         string      `json:"name"`
	Description  string      `json:"description"`
	Global       bool        `json:"global"`
	WorkspaceIDs []uuid.UUID `json:"workspace_ids"`
	CreatedAt    time.Time   `json:"created_at"`
}

func (a *api) varsetView(r *http.Request, orgID uuid.UUID, s variable.Set) (varsetJSON, error) {
	ids, err := a.Variables.SetWorkspaces(r.Context(), orgID, s.ID)
	return varsetJSON{ID: s.ID, Name: s.Name, Description: s.Description, Global: s.Global, WorkspaceIDs: ids, CreatedAt: s.CreatedAt}, err
}

// Variable sets are the organization's: admins change them, anyone reads.

func (a *api) createVarset(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	var body struct {
		Name         string      `json:"name"`
		Description  string      `json:"description"`
		Global       bool        `json:"global"`
		WorkspaceIDs []uuid.UUID `json:"workspace_ids"`
	}
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	s, err := a.Variables.CreateSet(r.Context(), o.ID, variable.SetInput{
		Name: body.Name, Description: body.Description, Global: body.Global, WorkspaceIDs: body.WorkspaceIDs,
	})
	if err != nil {
		return err
	}
	view, err := a.varsetView(r, o.ID, s)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, view)
	return nil
}

func (a *api) listVarsets(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	sets, err := a.Variables.ListSets(r.Context(), o.ID)
	if err != nil {
		return err
	}
	items := make([]varsetJSON, 0, len(sets))
	for _, s := range sets {
		view, err := a.varsetView(r, o.ID, s)
		if err != nil {
			return err
		}
		items = append(items, view)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

// varset reads the set of the path.
func (a *api) varset(r *http.Request, p org.Principal) (variable.Set, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return variable.Set{}, err
	}
	return a.Variables.GetSet(r.Context(), p.OrgID, id)
}

func (a *api) getVarset(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	s, err := a.varset(r, p)
	if err != nil {
		return err
	}
	view, err := a.varsetView(r, p.OrgID, s)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

func (a *api) updateVarset(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	s, err := a.varset(r, p)
	if err != nil {
		return err
	}
	var body struct {
		Name        *string `json:"name"`
		Description *string `json:"description"`
		Global      *bool   `json:"global"`
	}
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	if s, err = a.Variables.UpdateSet(r.Context(), p.OrgID, s.ID, variable.SetPatch{Name: body.Name, Description: body.Description, Global: body.Global}); err != nil {
		return err
	}
	view, err := a.varsetView(r, p.OrgID, s)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

func (a *api) deleteVarset(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	s, err := a.varset(r, p)
	if err != nil {
		return err
	}
	if err := a.Variables.DeleteSet(r.Context(), p.OrgID, s.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) createVarsetVariable(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	s, err := a.varset(r, p)
	if err != nil {
		return err
	}
	var body variableInput
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	v, err := a.Variables.CreateInSet(r.Context(), p.OrgID, s.ID, body.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, variableView(v))
	return nil
}

func (a *api) listVarsetVariables(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	s, err := a.varset(r, p)
	if err != nil {
		return err
	}
	list, err := a.Variables.ListSet(r.Context(), p.OrgID, s.ID)
	if err != nil {
		return err
	}
	writeVariables(w, list)
	return nil
}

func (a *api) attachVarset(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	s, err := a.varset(r, p)
	if err != nil {
		return err
	}
	var body struct {
		WorkspaceID uuid.UUID `json:"workspace_id"`
	}
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	if err := a.Variables.Attach(r.Context(), p.OrgID, s.ID, body.WorkspaceID); err != nil {
		return err
	}
	view, err := a.varsetView(r, p.OrgID, s)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

func (a *api) detachVarset(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	s, err := a.varset(r, p)
	if err != nil {
		return err
	}
	ws, err := pathID(r, "workspace")
	if err != nil {
		return err
	}
	if err := a.Variables.Detach(r.Context(), p.OrgID, s.ID, ws); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
