package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/trigger"
)

type triggerJSON struct {
	DownstreamWorkspaceID uuid.UUID  `json:"downstream_workspace_id"`
	UpstreamWorkspaceID   uuid.UUID  `json:"upstream_workspace_id"`
	On                    trigger.On `json:"on"`
	CreatedAt             time.Time  `json:"created_at"`
	Warning               string     `json:"warning,omitempty"`
}

func triggerView(e trigger.Edge) triggerJSON {
	return triggerJSON{DownstreamWorkspaceID: e.DownstreamID, UpstreamWorkspaceID: e.UpstreamID, On: e.On, CreatedAt: e.CreatedAt, Warning: e.Warning}
}

func (a *api) createTrigger(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var body struct {
		UpstreamWorkspaceID uuid.UUID  `json:"upstream_workspace_id"`
		On                  trigger.On `json:"on"`
	}
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	// The upstream's applies will queue runs here: seeing it is enough.
	if _, err := a.Orgs.Require(r.Context(), p, body.UpstreamWorkspaceID, org.LevelRead); err != nil {
		return err
	}
	e, err := a.Triggers.Create(r.Context(), p.OrgID, id, body.UpstreamWorkspaceID, body.On)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, triggerView(e))
	return nil
}

func (a *api) listTriggers(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := a.Workspaces.Get(r.Context(), p.OrgID, id); err != nil {
		return err
	}
	list, err := a.Triggers.List(r.Context(), p.OrgID, id)
	return writeItems(w, list, err, triggerView)
}

func (a *api) deleteTrigger(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	upstream, err := pathID(r, "upstream")
	if err != nil {
		return err
	}
	if err := a.Triggers.Delete(r.Context(), p.OrgID, id, upstream); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
