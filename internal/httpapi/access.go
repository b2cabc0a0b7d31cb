package httpapi

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/audit"
	"github.com/runplane/runplane/internal/org"
)

// handler is an endpoint, called once its caller is authorized.
type handler func(http.ResponseWriter, *http.Request, org.Principal) error

// route is an endpoint and what it needs of its caller.
type route struct {
	pattern string
	need    org.Need
	// on finds the workspace the request names, for workspace needs.
	on locator
	h  handler
	// backend: terraform's http backend, which also takes job credentials
	// and basic auth.
	backend bool
}

func (rt route) at(pattern string) route { rt.pattern = pattern; return rt }

// locator finds the workspace a request names, in the caller's organization.
type locator func(a *api, r *http.Request, p org.Principal) (uuid.UUID, error)

// Route is an endpoint's pattern and what it needs, for tests and docs.
type Route struct {
	Pattern string
	Need    org.Need
}

// Routes lists every authenticated endpoint of the native API with its need.
func Routes() []Route {
	var out []Route
	for _, rt := range (&api{}).routes() {
		out = append(out, Route{rt.pattern, rt.need})
	}
	return out
}

func anyone(h handler) route    { return route{need: org.Need{Scope: org.ScopeAnyone}, h: h} }
func siteAdmin(h handler) route { return route{need: org.Need{Scope: org.ScopeSiteAdmin}, h: h} }
func member(h handler) route    { return route{need: org.Need{Scope: org.ScopeMember}, h: h} }
func owner(h handler) route     { return route{need: org.Need{Scope: org.ScopeOwner}, h: h} }

// ownerOrSite is owner, and the site admin too.
func ownerOrSite(h handler) route {
	return route{need: org.Need{Scope: org.ScopeOwner, SiteAdmin: true}, h: h}
}

// on is a route that needs level l on the workspace that find locates.
func on(l org.Level, find locator, h handler) route {
	return route{need: org.OnWorkspace(l), on: find, h: h}
}

// authenticated serves rt to a principal that its need admits.
func (a *api) authenticated(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Orgs.Authenticate(r.Context(), bearer(r))
		if err == nil && p.Scoped() {
			err = errorf(http.StatusForbidden, "forbidden", "a job credential reaches only the state backend and the agent API")
		}
		if err == nil {
			p, err = a.Orgs.Authorize(r.Context(), p, rt.need, func() (uuid.UUID, error) { return rt.on(a, r, p) })
		}
		if err == nil {
			err = rt.h(w, r.WithContext(audit.WithActor(r.Context(), p.Actor(r.RemoteAddr))), p)
		}
		if err != nil {
			writeError(w, r, err)
		}
	})
}

// Locators: each reads the object the path names, scoped to the caller's
// organization, and answers its workspace.

func workspacePath(name string) locator {
	return func(a *api, r *http.Request, p org.Principal) (uuid.UUID, error) {
		id, err := pathID(r, name)
		if err != nil {
			return id, err
		}
		ws, err := a.Workspaces.Get(r.Context(), p.OrgID, id)
		return ws.ID, err
	}
}

func workspaceName(a *api, r *http.Request, p org.Principal) (uuid.UUID, error) {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return uuid.Nil, err
	}
	ws, err := a.Workspaces.GetByName(r.Context(), o.ID, r.PathValue("name"))
	return ws.ID, err
}

func runPath(a *api, r *http.Request, p org.Principal) (uuid.UUID, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return id, err
	}
	rn, err := a.Runs.Get(r.Context(), p.OrgID, id)
	return rn.WorkspaceID, err
}

func stateVersionPath(a *api, r *http.Request, p org.Principal) (uuid.UUID, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return id, err
	}
	v, err := a.State.Get(r.Context(), p.OrgID, id)
	return v.WorkspaceID, err
}

// variablePath answers uuid.Nil for a variable set's variable.
func variablePath(a *api, r *http.Request, p org.Principal) (uuid.UUID, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return id, err
	}
	v, err := a.Variables.Get(r.Context(), p.OrgID, id)
	if err != nil || v.WorkspaceID == nil {
		return uuid.Nil, err
	}
	return *v.WorkspaceID, nil
}
