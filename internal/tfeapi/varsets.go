package tfeapi

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/validate"
	"github.com/runplane/runplane/internal/variable"
)

type varsetResource struct {
	ID           string               `jsonapi:"primary,varsets"`
	Name         string               `jsonapi:"attr,name"`
	Description  string               `jsonapi:"attr,description"`
	Global       bool                 `jsonapi:"attr,global"`
	Priority     bool                 `jsonapi:"attr,priority"`
	Organization *organization        `jsonapi:"relation,organization"`
	Workspaces   []*workspaceResource `jsonapi:"relation,workspaces"`
}

type varsetInput struct {
	Type        string  `jsonapi:"primary,varsets"`
	Name        *string `jsonapi:"attr,name"`
	Description *string `jsonapi:"attr,description"`
	Global      *bool   `jsonapi:"attr,global"`
	Priority    *bool   `jsonapi:"attr,priority"`
	Workspaces  []*struct {
		ID string `jsonapi:"primary,workspaces"`
	} `jsonapi:"relation,workspaces"`
}

// errPriority: Runplane's precedence is fixed (docs/architecture.md §5a).
var errPriority = validate.Errorf("priority variable sets are not supported: a workspace's own variables always win over a set's")

func (in varsetInput) workspaceIDs() ([]uuid.UUID, error) {
	ids := make([]uuid.UUID, 0, len(in.Workspaces))
	for _, w := range in.Workspaces {
		id, err := uuid.Parse(w.ID)
		if err != nil {
			return nil, fmt.Errorf("%w: no workspace %q", errNotFound, w.ID)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (a *api) varsetView(r *http.Request, p org.Principal, s variable.Set) (*varsetResource, error) {
	ids, err := a.Variables.SetWorkspaces(r.Context(), p.OrgID, s.ID)
	if err != nil {
		return nil, err
	}
	out := &varsetResource{ID: s.ID.String(), Name: s.Name, Description: s.Description, Global: s.Global,
		Organization: &organization{Name: p.OrgName}, Workspaces: []*workspaceResource{}}
	for _, id := range ids {
		out.Workspaces = append(out.Workspaces, &workspaceResource{ID: id.String()})
	}
	return out, nil
}

func (a *api) createVarset(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	if _, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org")); err != nil {
		return err
	}
	var in varsetInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if deref(in.Priority) {
		return errPriority
	}
	ids, err := in.workspaceIDs()
	if err != nil {
		return err
	}
	s, err := a.Variables.CreateSet(r.Context(), p.OrgID, variable.SetInput{
		Name: deref(in.Name), Description: deref(in.Description), Global: deref(in.Global), WorkspaceIDs: ids,
	})
	if err != nil {
		return err
	}
	view, err := a.varsetView(r, p, s)
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, view)
}

func (a *api) listVarsets(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	if _, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org")); err != nil {
		return err
	}
	return a.writeVarsets(w, r, p, nil)
}

// listWorkspaceVarsets lists the sets that apply to a workspace: the
// global ones and those attached to it.
func (a *api) listWorkspaceVarsets(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	if _, err := a.Workspaces.Get(r.Context(), p.OrgID, id); err != nil {
		return err
	}
	return a.writeVarsets(w, r, p, &id)
}

func (a *api) writeVarsets(w http.ResponseWriter, r *http.Request, p org.Principal, workspace *uuid.UUID) error {
	number, size, err := pageParams(r)
	if err != nil {
		return err
	}
	sets, err := a.Variables.ListSets(r.Context(), p.OrgID)
	if err != nil {
		return err
	}
	var views []any
	for _, s := range sets {
		v, err := a.varsetView(r, p, s)
		if err != nil {
			return err
		}
		if workspace == nil || s.Global || slices.ContainsFunc(v.Workspaces, func(ws *workspaceResource) bool { return ws.ID == workspace.String() }) {
			views = append(views, v)
		}
	}
	return writeMany(w, append([]any{}, pageOf(views, number, size)...), number, size, len(views))
}

// pathVarset reads the variable set of the path.
func (a *api) pathVarset(r *http.Request, p org.Principal) (variable.Set, error) {
	id, err := pathUUID(r, "id")
	if err != nil {
		return variable.Set{}, err
	}
	return a.Variables.GetSet(r.Context(), p.OrgID, id)
}

func (a *api) getVarset(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	s, err := a.pathVarset(r, p)
	if err != nil {
		return err
	}
	view, err := a.varsetView(r, p, s)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, view)
}

// updateVarset changes a set's attributes; a document naming workspaces
// (go-tfe's UpdateWorkspaces) replaces the set's attachments.
func (a *api) updateVarset(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	s, err := a.pathVarset(r, p)
	if err != nil {
		return err
	}
	var in varsetInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if deref(in.Priority) {
		return errPriority
	}
	want, err := in.workspaceIDs()
	if err != nil {
		return err
	}
	if in.Name != nil || in.Description != nil || in.Global != nil {
		if s, err = a.Variables.UpdateSet(r.Context(), p.OrgID, s.ID, variable.SetPatch{Name: in.Name, Description: in.Description, Global: in.Global}); err != nil {
			return err
		}
	}
	if in.Workspaces != nil {
		have, err := a.Variables.SetWorkspaces(r.Context(), p.OrgID, s.ID)
		if err != nil {
			return err
		}
		if err := a.attach(r, p, s.ID, want, have); err != nil {
			return err
		}
	}
	view, err := a.varsetView(r, p, s)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, view)
}

// attach makes the set's attachments want, from have.
func (a *api) attach(r *http.Request, p org.Principal, set uuid.UUID, want, have []uuid.UUID) error {
	for _, id := range want {
		if !slices.Contains(have, id) {
			if err := a.Variables.Attach(r.Context(), p.OrgID, set, id); err != nil {
				return err
			}
		}
	}
	for _, id := range have {
		if !slices.Contains(want, id) {
			if err := a.Variables.Detach(r.Context(), p.OrgID, set, id); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *api) deleteVarset(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	s, err := a.pathVarset(r, p)
	if err != nil {
		return err
	}
	if err := a.Variables.DeleteSet(r.Context(), p.OrgID, s.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// varsetWorkspaces applies (POST) or stops applying (DELETE) a set to the
// workspaces of a relationship document.
func (a *api) varsetWorkspaces(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	s, err := a.pathVarset(r, p)
	if err != nil {
		return err
	}
	var doc struct {
		Data []struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"data"`
	}
	if err := jsonDecode(r, &doc); err != nil {
		return validate.Errorf("the body is not a relationship document: %v", err)
	}
	for _, d := range doc.Data {
		id, err := uuid.Parse(d.ID)
		if err != nil || d.Type != "workspaces" {
			return fmt.Errorf("%w: no workspace %q", errNotFound, d.ID)
		}
		if r.Method == http.MethodPost {
			err = a.Variables.Attach(r.Context(), p.OrgID, s.ID, id)
		} else {
			err = a.Variables.Detach(r.Context(), p.OrgID, s.ID, id)
		}
		if err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type varsetVariable struct {
	ID          string          `jsonapi:"primary,vars"`
	Key         string          `jsonapi:"attr,key"`
	Value       string          `jsonapi:"attr,value"`
	Description string          `jsonapi:"attr,description"`
	Category    string          `jsonapi:"attr,category"`
	HCL         bool            `jsonapi:"attr,hcl"`
	Sensitive   bool            `jsonapi:"attr,sensitive"`
	Varset      *varsetResource `jsonapi:"relation,varset"`
}

// varsetVariableView never carries a sensitive value: it is write-only.
func varsetVariableView(v variable.Variable) *varsetVariable {
	out := &varsetVariable{ID: v.ID.String(), Key: v.Key, Description: v.Description, Category: string(v.Category),
		HCL: v.HCL, Sensitive: v.Sensitive, Varset: &varsetResource{ID: v.SetID.String()}}
	if !v.Sensitive {
		out.Value = v.Value
	}
	return out
}

func (a *api) createVarsetVariable(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	s, err := a.pathVarset(r, p)
	if err != nil {
		return err
	}
	var in variableInput
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := a.Variables.CreateInSet(r.Context(), p.OrgID, s.ID, in.input())
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, varsetVariableView(v))
}

func (a *api) listVarsetVariables(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	s, err := a.pathVarset(r, p)
	if err != nil {
		return err
	}
	list, err := a.Variables.ListSet(r.Context(), p.OrgID, s.ID)
	if err != nil {
		return err
	}
	items := make([]any, 0, len(list))
	for _, v := range list {
		items = append(items, varsetVariableView(v))
	}
	return writeMany(w, items, 1, max(1, len(items)), len(items))
}

// setVariable reads the variable of the path, which must be the set's.
func (a *api) setVariable(r *http.Request, p org.Principal) (variable.Variable, error) {
	s, err := a.pathVarset(r, p)
	if err != nil {
		return variable.Variable{}, err
	}
	id, err := pathUUID(r, "var")
	if err != nil {
		return variable.Variable{}, err
	}
	v, err := a.Variables.Get(r.Context(), p.OrgID, id)
	if err == nil && (v.SetID == nil || *v.SetID != s.ID) {
		err = variable.ErrNotFound
	}
	return v, err
}

func (a *api) getVarsetVariable(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	v, err := a.setVariable(r, p)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, varsetVariableView(v))
}

func (a *api) updateVarsetVariable(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	v, err := a.setVariable(r, p)
	if err != nil {
		return err
	}
	var in variableInput
	if err := decode(r, &in); err != nil {
		return err
	}
	patch, err := in.patch(v)
	if err != nil {
		return err
	}
	v, err = a.Variables.Update(r.Context(), p.OrgID, v.ID, patch)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, varsetVariableView(v))
}

func (a *api) deleteVarsetVariable(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	v, err := a.setVariable(r, p)
	if err != nil {
		return err
	}
	if err := a.Variables.Delete(r.Context(), p.OrgID, v.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
