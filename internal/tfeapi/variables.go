package tfeapi

import (
	"net/http"

	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/variable"
)

type variableResource struct {
	ID          string             `jsonapi:"primary,vars"`
	Key         string             `jsonapi:"attr,key"`
	Value       string             `jsonapi:"attr,value"`
	Description string             `jsonapi:"attr,description"`
	Category    string             `jsonapi:"attr,category"`
	HCL         bool               `jsonapi:"attr,hcl"`
	Sensitive   bool               `jsonapi:"attr,sensitive"`
	Workspace   *workspaceResource `jsonapi:"relation,configurable"`
}

// variableInput is a create or update document; nil attributes stay.
type variableInput struct {
	Type        string  `jsonapi:"primary,vars"`
	Key         *string `jsonapi:"attr,key"`
	Value       *string `jsonapi:"attr,value"`
	Description *string `jsonapi:"attr,description"`
	Category    *string `jsonapi:"attr,category"`
	HCL         *bool   `jsonapi:"attr,hcl"`
	Sensitive   *bool   `jsonapi:"attr,sensitive"`
}

// variableView never carries a sensitive value: it is write-only.
func variableView(v variable.Variable) *variableResource {
	out := &variableResource{ID: v.ID.String(), Key: v.Key, Description: v.Description, Category: string(v.Category),
		HCL: v.HCL, Sensitive: v.Sensitive}
	if !v.Sensitive {
		out.Value = v.Value
	}
	if v.WorkspaceID != nil {
		out.Workspace = &workspaceResource{ID: v.WorkspaceID.String()}
	}
	return out
}

// input is a create document as the service takes it.
func (in variableInput) input() variable.Input {
	return variable.Input{
		Key: deref(in.Key), Value: deref(in.Value), Category: variable.Category(deref(in.Category)), HCL: deref(in.HCL),
		Sensitive: deref(in.Sensitive), Description: deref(in.Description),
	}
}

// patch is an update document of v as the service takes it; a variable's
// category cannot change.
func (in variableInput) patch(v variable.Variable) (variable.Patch, error) {
	if in.Category != nil && *in.Category != string(v.Category) {
		return variable.Patch{}, errCategory
	}
	return variable.Patch{Key: in.Key, Value: in.Value, HCL: in.HCL, Sensitive: in.Sensitive, Description: in.Description}, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (a *api) createVariable(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	ws, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var in variableInput
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := a.Variables.Create(r.Context(), p.OrgID, ws, in.input())
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, variableView(v))
}

func (a *api) listVariables(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	ws, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	if _, err := a.Workspaces.Get(r.Context(), p.OrgID, ws); err != nil {
		return err
	}
	list, err := a.Variables.List(r.Context(), p.OrgID, ws)
	if err != nil {
		return err
	}
	items := make([]any, 0, len(list))
	for _, v := range list {
		items = append(items, variableView(v))
	}
	return writeMany(w, items, 1, max(1, len(items)), len(items))
}

// workspaceVariable reads the variable of the path, which must be the
// workspace's.
func (a *api) workspaceVariable(r *http.Request, p org.Principal) (variable.Variable, error) {
	ws, err := pathUUID(r, "id")
	if err != nil {
		return variable.Variable{}, err
	}
	id, err := pathUUID(r, "var")
	if err != nil {
		return variable.Variable{}, err
	}
	v, err := a.Variables.Get(r.Context(), p.OrgID, id)
	if err == nil && (v.WorkspaceID == nil || *v.WorkspaceID != ws) {
		err = variable.ErrNotFound
	}
	return v, err
}

func (a *api) getVariable(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	v, err := a.workspaceVariable(r, p)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, variableView(v))
}

func (a *api) updateVariable(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	v, err := a.workspaceVariable(r, p)
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
	return write(w, http.StatusOK, variableView(v))
}

func (a *api) deleteVariable(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	v, err := a.workspaceVariable(r, p)
	if err != nil {
		return err
	}
	if err := a.Variables.Delete(r.Context(), p.OrgID, v.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
