package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/variable"
)

// variableJSON never carries a sensitive variable's value: it is write-only.
type variableJSON struct {
	ID            uuid.UUID         `json:"id"`
	WorkspaceID   *uuid.UUID        `json:"workspace_id,omitempty"`
	VariableSetID *uuid.UUID        `json:"variable_set_id,omitempty"`
	Key           string            `json:"key"`
	Value         *string           `json:"value"`
	Category      variable.Category `json:"category"`
	HCL           bool              `json:"hcl"`
	Sensitive     bool              `json:"sensitive"`
	Description   string            `json:"description"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
}

func variableView(v variable.Variable) variableJSON {
	out := variableJSON{
		ID: v.ID, WorkspaceID: v.WorkspaceID, VariableSetID: v.SetID, Key: v.Key, Category: v.Category, HCL: v.HCL, Sensitive: v.Sensitive,
		Description: v.Description, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
	}
	if !v.Sensitive {
		out.Value = &v.Value
	}
	return out
}

// variableInput is the body that creates a variable.
type variableInput struct {
	Key         string            `json:"key"`
	Value       string            `json:"value"`
	Category    variable.Category `json:"category"`
	HCL         bool              `json:"hcl"`
	Sensitive   bool              `json:"sensitive"`
	Description string            `json:"description"`
}

func (in variableInput) input() variable.Input {
	return variable.Input{Key: in.Key, Value: in.Value, Category: in.Category, HCL: in.HCL, Sensitive: in.Sensitive, Description: in.Description}
}

func writeVariables(w http.ResponseWriter, list []variable.Variable) {
	items := make([]variableJSON, 0, len(list))
	for _, v := range list {
		items = append(items, variableView(v))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (a *api) createVariable(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var body variableInput
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	v, err := a.Variables.Create(r.Context(), p.OrgID, id, body.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, variableView(v))
	return nil
}

func (a *api) listVariables(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := a.Workspaces.Get(r.Context(), p.OrgID, id); err != nil {
		return err
	}
	list, err := a.Variables.List(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	writeVariables(w, list)
	return nil
}

func (a *api) getVariable(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := a.Variables.Get(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, variableView(v))
	return nil
}

func (a *api) updateVariable(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var body struct {
		Key         *string `json:"key"`
		Value       *string `json:"value"`
		HCL         *bool   `json:"hcl"`
		Sensitive   *bool   `json:"sensitive"`
		Description *string `json:"description"`
	}
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	v, err := a.Variables.Update(r.Context(), p.OrgID, id, variable.Patch{
		Key: body.Key, Value: body.Value, HCL: body.HCL, Sensitive: body.Sensitive, Description: body.Description,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, variableView(v))
	return nil
}

func (a *api) deleteVariable(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := a.Variables.Delete(r.Context(), p.OrgID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
