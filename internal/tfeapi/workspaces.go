package tfeapi

import (
	"net/http"
	"strconv"
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
	write, admin := p.Can(org.RoleWrite), p.Can(org.RoleAdmin)
	return &workspaceResource{
		ID: ws.ID.String(), Name: ws.Name, AutoApply: ws.AutoApply, Locked: ws.Locked, ExecutionMode: "remote",
		TerraformVersion: "latest", CreatedAt: ws.CreatedAt,
		Permissions: &workspacePermissions{CanUpdate: admin, CanQueueRun: write, CanQueueApply: write, CanLock: write,
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
	if err := p.Require(org.RoleAdmin); err != nil {
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
	if err := p.Require(org.RoleRead); err != nil {
		return err
	}
	number, size := 1, 20
	for _, q := range []struct {
		name string
		dst  *int
		max  int
	}{{"page[number]", &number, 1 << 20}, {"page[size]", &size, 100}} {
		if s := r.URL.Query().Get(q.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > q.max {
				return validate.Errorf("%s must be a whole number from 1 to %d", q.name, q.max)
			}
			*q.dst = n
		}
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
	start := min((number-1)*size, len(all))
	items := make([]any, 0, size)
	for _, ws := range all[start:min(start+size, len(all))] {
		items = append(items, workspaceView(ws, o.Name, p))
	}
	return writeMany(w, items, number, size, len(all))
}

func (a *api) getWorkspaceByName(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	if err := p.Require(org.RoleRead); err != nil {
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
	if err := p.Require(org.RoleRead); err != nil {
		return err
	}
	ws, err := a.Workspaces.Get(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, workspaceView(ws, p.OrgName, p))
}

// workspaceAction locks, unlocks or force-unlocks a workspace.
func (a *api) workspaceAction(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var ws workspace.Workspace
	switch r.PathValue("action") {
	case "lock":
		if err := p.Require(org.RoleWrite); err != nil {
			return err
		}
		var body struct {
			Reason string `json:"reason"`
		}
		_ = jsonDecode(r, &body) // the reason is optional
		ws, err = a.Workspaces.Lock(r.Context(), p.OrgID, id, p.TokenID, body.Reason)
	case "unlock":
		if err := p.Require(org.RoleWrite); err != nil {
			return err
		}
		ws, err = a.Workspaces.Unlock(r.Context(), p.OrgID, id, p.TokenID, false)
	case "force-unlock":
		if err := p.Require(org.RoleAdmin); err != nil {
			return err
		}
		ws, err = a.Workspaces.Unlock(r.Context(), p.OrgID, id, p.TokenID, true)
	default:
		return errNotServed
	}
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, workspaceView(ws, p.OrgName, p))
}
