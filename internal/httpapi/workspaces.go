package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/workspace"
)

type workspaceJSON struct {
	ID                  uuid.UUID  `json:"id"`
	Name                string     `json:"name"`
	AutoApply           bool       `json:"auto_apply"`
	AutoApplyRunTrigger bool       `json:"auto_apply_run_trigger"`
	Locked              bool       `json:"locked"`
	LockReason          string     `json:"lock_reason"`
	CurrentRunID        *uuid.UUID `json:"current_run_id"`
	// Omitted from lists, which do not load it.
	RemoteStateConsumers  []uuid.UUID `json:"remote_state_consumers"`
	CurrentStateVersionID *uuid.UUID  `json:"current_state_version_id"`
	AgentPoolID           *uuid.UUID  `json:"agent_pool_id"`
	CreatedAt             time.Time   `json:"created_at"`
}

// workspaceView always lists the consumers, even when there are none.
func workspaceView(ws workspace.Workspace) workspaceJSON {
	v := workspaceJSON{
		ID: ws.ID, Name: ws.Name, AutoApply: ws.AutoApply, AutoApplyRunTrigger: ws.AutoApplyRunTrigger,
		Locked: ws.Locked, LockReason: ws.LockReason, CurrentRunID: ws.CurrentRunID,
		RemoteStateConsumers: ws.RemoteStateConsumers, CurrentStateVersionID: ws.CurrentStateVersionID,
		AgentPoolID: ws.AgentPoolID, CreatedAt: ws.CreatedAt,
	}
	if v.RemoteStateConsumers == nil {
		v.RemoteStateConsumers = []uuid.UUID{}
	}
	return v
}

func (a *api) createWorkspace(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	var body struct {
		Name                 string      `json:"name"`
		AutoApply            bool        `json:"auto_apply"`
		AutoApplyRunTrigger  bool        `json:"auto_apply_run_trigger"`
		RemoteStateConsumers []uuid.UUID `json:"remote_state_consumers"`
	}
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	ws, err := a.Workspaces.Create(r.Context(), o.ID, workspace.CreateOptions{
		Name: body.Name, AutoApply: body.AutoApply, AutoApplyRunTrigger: body.AutoApplyRunTrigger,
		RemoteStateConsumers: body.RemoteStateConsumers,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, workspaceView(ws))
	return nil
}

func (a *api) updateWorkspace(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var body struct {
		AutoApply            *bool        `json:"auto_apply"`
		AutoApplyRunTrigger  *bool        `json:"auto_apply_run_trigger"`
		RemoteStateConsumers *[]uuid.UUID `json:"remote_state_consumers"`
		// An agent pool's id, or "" for the platform's agents.
		AgentPoolID *string `json:"agent_pool_id"`
	}
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	opts := workspace.UpdateOptions{
		AutoApply: body.AutoApply, AutoApplyRunTrigger: body.AutoApplyRunTrigger, RemoteStateConsumers: body.RemoteStateConsumers,
		SetAgentPool: body.AgentPoolID != nil,
	}
	if body.AgentPoolID != nil && *body.AgentPoolID != "" {
		pool, err := uuid.Parse(*body.AgentPoolID)
		if err != nil {
			return errorf(http.StatusBadRequest, "invalid_request", "agent_pool_id must be an agent pool's id, or \"\" for the platform's agents")
		}
		opts.AgentPoolID = &pool
	}
	ws, err := a.Workspaces.Update(r.Context(), p.OrgID, id, opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, workspaceView(ws))
	return nil
}

func (a *api) listWorkspaces(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	list, err := a.Workspaces.List(r.Context(), o.ID, cursor, limit+1)
	if err != nil {
		return err
	}
	out := map[string]any{}
	if len(list) > limit {
		list = list[:limit]
		out["next_cursor"] = list[limit-1].Name
	}
	if list, err = org.Visible(r.Context(), a.Orgs, p, list, workspace.ID); err != nil {
		return err
	}
	items := make([]workspaceJSON, 0, len(list))
	for _, ws := range list {
		items = append(items, workspaceView(ws))
	}
	out["items"] = items
	writeJSON(w, http.StatusOK, out)
	return nil
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
	writeJSON(w, http.StatusOK, workspaceView(ws))
	return nil
}

func (a *api) getWorkspace(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ws, err := a.Workspaces.Get(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, workspaceView(ws))
	return nil
}

func (a *api) lockWorkspace(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var body struct {
		Reason string `json:"reason"`
	}
	if err := decode(w, r, &body, true); err != nil {
		return err
	}
	ws, err := a.Workspaces.Lock(r.Context(), p.OrgID, id, p.TokenID, body.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, workspaceView(ws))
	return nil
}

// unlockWorkspace releases the caller's lock, or anyone's when forced.
func (a *api) unlockWorkspace(force bool) handler {
	return func(w http.ResponseWriter, r *http.Request, p org.Principal) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		var body struct {
			Reason string `json:"reason"`
		}
		if err := decode(w, r, &body, true); err != nil {
			return err
		}
		ws, err := a.Workspaces.Unlock(r.Context(), p.OrgID, id, p.TokenID, force)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, workspaceView(ws))
		return nil
	}
}

type deletedWorkspaceJSON struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	StateID    *uuid.UUID `json:"current_state_version_id"`
	DeletedAt  time.Time  `json:"deleted_at"`
	PurgeAfter time.Time  `json:"purge_after"`
}

func deletedView(d workspace.Deleted) deletedWorkspaceJSON {
	return deletedWorkspaceJSON{ID: d.ID, Name: d.Name, StateID: d.CurrentStateVersionID, DeletedAt: d.DeletedAt, PurgeAfter: d.PurgeAfter}
}

// deleteWorkspace deletes a workspace, restorable until it is purged.
func (a *api) deleteWorkspace(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	d, err := a.Workspaces.Delete(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, deletedView(d))
	return nil
}

func (a *api) listDeletedWorkspaces(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	limit, _, err := page(r)
	if err != nil {
		return err
	}
	list, err := a.Workspaces.ListDeleted(r.Context(), o.ID, limit)
	if err != nil {
		return err
	}
	items := make([]deletedWorkspaceJSON, 0, len(list))
	for _, d := range list {
		items = append(items, deletedView(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (a *api) restoreWorkspace(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ws, err := a.Workspaces.Restore(r.Context(), o.ID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, workspaceView(ws))
	return nil
}
