package tfeapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/trigger"
	"github.com/runplane/runplane/internal/validate"
)

// A run trigger is an edge upstream (sourceable) → downstream (workspace);
// its id names both ends, as edges have no id of their own.
type runTrigger struct {
	ID             string             `jsonapi:"primary,run-triggers"`
	CreatedAt      time.Time          `jsonapi:"attr,created-at,iso8601"`
	SourceableName string             `jsonapi:"attr,sourceable-name"`
	WorkspaceName  string             `jsonapi:"attr,workspace-name"`
	Sourceable     *workspaceResource `jsonapi:"relation,sourceable"`
	Workspace      *workspaceResource `jsonapi:"relation,workspace"`
}

func triggerID(e trigger.Edge) string { return e.DownstreamID.String() + "." + e.UpstreamID.String() }

func parseTriggerID(s string) (down, up uuid.UUID, err error) {
	d, u, ok := strings.Cut(s, ".")
	if down, err = uuid.Parse(d); ok && err == nil {
		up, err = uuid.Parse(u)
	}
	if !ok || err != nil {
		return down, up, errNotFound
	}
	return down, up, nil
}

func (a *api) triggerView(r *http.Request, p org.Principal, e trigger.Edge) (*runTrigger, error) {
	down, err := a.Workspaces.Get(r.Context(), p.OrgID, e.DownstreamID)
	if err != nil {
		return nil, err
	}
	up, err := a.Workspaces.Get(r.Context(), p.OrgID, e.UpstreamID)
	if err != nil {
		return nil, err
	}
	return &runTrigger{ID: triggerID(e), CreatedAt: e.CreatedAt, SourceableName: up.Name, WorkspaceName: down.Name,
		Sourceable: &workspaceResource{ID: up.ID.String()}, Workspace: &workspaceResource{ID: down.ID.String()}}, nil
}

func (a *api) createRunTrigger(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	down, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Type       string             `jsonapi:"primary,run-triggers"`
		Sourceable *workspaceResource `jsonapi:"relation,sourceable"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Sourceable == nil {
		return validate.Errorf("a run trigger needs its sourceable workspace")
	}
	up, err := uuid.Parse(in.Sourceable.ID)
	if err != nil {
		return errNotFound
	}
	// The upstream's applies will queue runs here: seeing it is enough.
	if _, err := a.Orgs.Require(r.Context(), p, up, org.LevelRead); err != nil {
		return err
	}
	e, err := a.Triggers.Create(r.Context(), p.OrgID, down, up, trigger.OnApply)
	if err != nil {
		return err
	}
	view, err := a.triggerView(r, p, e)
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, view)
}

// listRunTriggers lists a workspace's inbound (its upstreams) or outbound
// (its downstreams) triggers, as filter[run-trigger][type] asks.
func (a *api) listRunTriggers(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	ws, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	if _, err := a.Workspaces.Get(r.Context(), p.OrgID, ws); err != nil {
		return err
	}
	var edges []trigger.Edge
	switch r.URL.Query().Get("filter[run-trigger][type]") {
	case "inbound":
		edges, err = a.Triggers.List(r.Context(), p.OrgID, ws)
	case "outbound":
		edges, err = a.Triggers.ListDownstream(r.Context(), p.OrgID, ws)
	default:
		return validate.Errorf("filter[run-trigger][type] must be inbound or outbound")
	}
	if err != nil {
		return err
	}
	items := make([]any, 0, len(edges))
	for _, e := range edges {
		view, err := a.triggerView(r, p, e)
		if err != nil {
			return err
		}
		items = append(items, view)
	}
	return writeMany(w, items, 1, max(1, len(items)), len(items))
}

// runTrigger finds the edge the path's id names.
func (a *api) runTrigger(r *http.Request, p org.Principal) (trigger.Edge, error) {
	down, up, err := parseTriggerID(r.PathValue("id"))
	if err != nil {
		return trigger.Edge{}, err
	}
	edges, err := a.Triggers.List(r.Context(), p.OrgID, down)
	if err != nil {
		return trigger.Edge{}, err
	}
	for _, e := range edges {
		if e.UpstreamID == up {
			return e, nil
		}
	}
	return trigger.Edge{}, errNotFound
}

func (a *api) getRunTrigger(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	e, err := a.runTrigger(r, p)
	if err != nil {
		return err
	}
	view, err := a.triggerView(r, p, e)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, view)
}

func (a *api) deleteRunTrigger(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	e, err := a.runTrigger(r, p)
	if err != nil {
		return err
	}
	if err := a.Triggers.Delete(r.Context(), p.OrgID, e.DownstreamID, e.UpstreamID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
