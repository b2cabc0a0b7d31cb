package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
)

type agentPoolJSON struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
	// Token is the pool's agent token, in the create answer only.
	Token      string    `json:"token,omitempty"`
	Workspaces int       `json:"workspaces"`
	CreatedAt  time.Time `json:"created_at"`
}

func agentPoolView(p org.AgentPool) agentPoolJSON {
	return agentPoolJSON{ID: p.ID, Name: p.Name, Token: p.Token, Workspaces: p.Workspaces, CreatedAt: p.CreatedAt}
}

// createAgentPool makes an organization's own agent pool; the answer
// carries its agent token, never shown again.
func (a *api) createAgentPool(w http.ResponseWriter, r *http.Request, p org.Principal) error {
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
	pool, err := a.Orgs.CreateAgentPool(r.Context(), o.ID, body.Name)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, agentPoolView(pool))
	return nil
}

func (a *api) listAgentPools(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	pools, err := a.Orgs.AgentPools(r.Context(), o.ID)
	return writeItems(w, pools, err, agentPoolView)
}

func (a *api) deleteAgentPool(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := a.Orgs.DeleteAgentPool(r.Context(), o.ID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
