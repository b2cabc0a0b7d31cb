package tfeapi

import (
	"net/http"
	"time"

	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/validate"
	"github.com/runplane/runplane/internal/workspace"
)

type workspaceResource struct {
	ID               string                `jsonapi:"primary,workspaces"`
	Name             string                `jsonapi:"attr,name"`
	AutoApply        bool                  `jsonapi:"attr,auto-apply"`
	Locked           bool                  `jsonapi:"attr,locked"`
	ExecutionMode    string                `jsonapi:"attr,execution-mode"`
	TerraformVersion string                `jsonapi:"attr,terraform-version"`
	CreatedAt        time.Time             `jsonapi:"attr,created-at,iso8601"`
	Permissions      *workspacePermissions `jsonapi:"attr,permissions"`
	Actions          *workspaceActions     `jsonapi:"attr,actions"`
	Organization     *organization         `jsonapi:"relation,organization"`
}

type workspacePermissions struct {
	CanUpdate      bool `json:"can-update"`
	CanDestroy     bool `json:"can-destroy"`
	CanQueueRun    bool `json:"can-queue-run"`
	CanQueueApply  bool `json:"can-queue-apply"`
	CanLock        bool `json:"can-lock"`
	CanUnlock      bool `json:"can-unlock"`
	CanForceUnlock bool `json:"can-force-unlock"`
	CanReadState   bool `json:"can-read-state-versions"`
}

type workspaceActions struct {
	IsDestroyable bool `json:"is-destroyable"`
}

func workspaceView(ws workspace.Workspace, orgName string, p org.Principal) *workspaceResource {
	write, admin := p.Level >= org.LevelWrite, p.Level >= org.LevelAdmin
	return &workspaceResource{
		ID: ws.ID.String(), Name: ws.Name, AutoApply: ws.AutoApply, Locked: ws.Locked, ExecutionMode: "remote",
		TerraformVersion: "latest", CreatedAt: ws.CreatedAt,
		Permissions: &workspacePermissions{CanUpdate: admin, CanQueueRun: p.Level >= org.LevelPlan, CanQueueApply: write, CanLock: write,
			CanUnlock: write, CanForceUnlock: admin, CanReadState: write},
		Actions:      &workspaceActions{},
		Organization: &organization{Name: orgName},
	}
}

func (a *api) createWorkspace(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	var in workspaceResource
	if err := decode(r, &in); err != nil {
		return err
	}
	ws, err := a.Workspaces.Create(r.Context(), o.ID, workspace.CreateOptions{Name: in.Name, AutoApply: in.AutoApply})
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, workspaceView(ws, o.Name, p))
}

// listWorkspaces pages by page[number] and page[size] (default 20, at
// most 100), with the pagination meta go-tfe reads.
func (a *api) listWorkspaces(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	number, size, err := pageParams(r)
	if err != nil {
		return err
	}
	// The native list pages by name; read up to the wanted page.
	var all []workspace.Workspace
	after := ""
	for len(all) < number*size+1 {
		page, err := a.Workspaces.List(r.Context(), o.ID, after, 1000)
		if err != nil {
			return err
		}
		all = append(all, page...)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Name
	}
	if all, err = org.Visible(r.Context(), a.Orgs, p, all, workspace.ID); err != nil {
		return err
	}
	items := make([]any, 0, size)
	for _, ws := range pageOf(all, number, size) {
		if p.Level, err = a.Orgs.Access(r.Context(), p, ws.ID); err != nil {
			return err
		}
		items = append(items, workspaceView(ws, o.Name, p))
	}
	return writeMany(w, items, number, size, len(all))
}

func (a *api) getWorkspaceByName(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	ws, err := a.Workspaces.GetByName(r.Context(), o.ID, r.PathValue("name"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, workspaceView(ws, o.Name, p))
}

func (a *api) getWorkspace(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	ws, err := a.Workspaces.Get(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, workspaceView(ws, p.OrgName, p))
}

func (a *api) lockWorkspace(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var body struct {
		Reason string `json:"reason"`
	}
	_ = jsonDecode(r, &body) // the reason is optional
	ws, err := a.Workspaces.Lock(r.Context(), p.OrgID, id, p.TokenID, body.Reason)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, workspaceView(ws, p.OrgName, p))
}

// unlockWorkspace releases the caller's lock, or anyone's when forced.
func (a *api) unlockWorkspace(force bool) handler {
	return func(w http.ResponseWriter, r *http.Request, p org.Principal) error {
		id, err := pathUUID(r, "id")
		if err != nil {
			return err
		}
		ws, err := a.Workspaces.Unlock(r.Context(), p.OrgID, id, p.TokenID, force)
		if err != nil {
			return err
		}
		return write(w, http.StatusOK, workspaceView(ws, p.OrgName, p))
	}
}

// updateWorkspace changes what Runplane lets change: auto-apply. Runs use
// the agents' terraform and execute remotely, so terraform-version
// accepts only "latest" and execution-mode only "remote".
// pathWorkspace is the workspace a path names, by id or by organization
// and name.
func (a *api) pathWorkspace(r *http.Request, p org.Principal) (workspace.Workspace, error) {
	if r.PathValue("id") != "" {
		id, err := pathUUID(r, "id")
		if err != nil {
			return workspace.Workspace{}, err
		}
		return a.Workspaces.Get(r.Context(), p.OrgID, id)
	}
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return workspace.Workspace{}, err
	}
	return a.Workspaces.GetByName(r.Context(), o.ID, r.PathValue("name"))
}

// deleteWorkspace is Terraform Cloud's (force) delete; the workspace stays
// restorable through the native API until it is purged.
func (a *api) deleteWorkspace(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	ws, err := a.pathWorkspace(r, p)
	if err != nil {
		return err
	}
	if _, err := a.Workspaces.Delete(r.Context(), ws.OrganizationID, ws.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) updateWorkspace(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	ws, err := a.pathWorkspace(r, p)
	if err != nil {
		return err
	}
	var in struct {
		ID               string  `jsonapi:"primary,workspaces"`
		Name             *string `jsonapi:"attr,name"`
		AutoApply        *bool   `jsonapi:"attr,auto-apply"`
		TerraformVersion *string `jsonapi:"attr,terraform-version"`
		ExecutionMode    *string `jsonapi:"attr,execution-mode"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	switch {
	case in.Name != nil && *in.Name != ws.Name:
		return validate.Errorf("workspaces cannot be renamed")
	case in.TerraformVersion != nil && *in.TerraformVersion != "latest" && *in.TerraformVersion != "":
		return validate.Errorf("terraform version %q is not available: runs use the agents' terraform (latest)", *in.TerraformVersion)
	case in.ExecutionMode != nil && *in.ExecutionMode != "remote":
		return validate.Errorf("execution mode %q is not available: runs execute on Runplane's agents (remote)", *in.ExecutionMode)
	}
	ws, err = a.Workspaces.Update(r.Context(), p.OrgID, ws.ID, workspace.UpdateOptions{AutoApply: in.AutoApply})
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, workspaceView(ws, p.OrgName, p))
}
