package tfeapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/audit"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/validate"
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
}

func (rt route) at(pattern string) route { rt.pattern = pattern; return rt }

// locator finds the workspace a request names, in the caller's organization.
type locator func(a *api, r *http.Request, p org.Principal) (uuid.UUID, error)

// Route is an endpoint's pattern and what it needs, for tests and docs.
type Route struct {
	Pattern string
	Need    org.Need
}

// Routes lists every authenticated endpoint of the Terraform Cloud API
// with its need.
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

func on(l org.Level, find locator, h handler) route {
	return route{need: org.OnWorkspace(l), on: find, h: h}
}

// authenticated serves rt to a principal that its need admits.
func (a *api) authenticated(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers(w)
		secret, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		p, err := a.Orgs.Authenticate(r.Context(), secret)
		if err == nil && p.Scoped() {
			// A job's credential is for the state backend only.
			err = org.ErrUnauthorized
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

// Locators: each reads the object the request names, scoped to the
// caller's organization, and answers its workspace.

func workspacePath(a *api, r *http.Request, p org.Principal) (uuid.UUID, error) {
	ws, err := a.pathWorkspace(r, p)
	return ws.ID, err
}

// runPath serves runs, plans, applies and policy checks: their ids are the run's.
func runPath(a *api, r *http.Request, p org.Principal) (uuid.UUID, error) {
	id, err := pathUUID(r, "id")
	if err != nil {
		return id, err
	}
	rn, err := a.Runs.Get(r.Context(), p.OrgID, id)
	return rn.WorkspaceID, err
}

func configurationPath(a *api, r *http.Request, p org.Principal) (uuid.UUID, error) {
	id, err := pathUUID(r, "id")
	if err != nil {
		return id, err
	}
	v, err := a.Configs.Get(r.Context(), p.OrgID, id)
	return v.WorkspaceID, err
}

func stateVersionPath(a *api, r *http.Request, p org.Principal) (uuid.UUID, error) {
	id, err := pathUUID(r, "id")
	if err != nil {
		return id, err
	}
	v, err := a.State.Get(r.Context(), p.OrgID, id)
	return v.WorkspaceID, err
}

// stateOutputPath reads an output's id: its version's id, a dot, its name.
func stateOutputPath(a *api, r *http.Request, p org.Principal) (uuid.UUID, error) {
	versionText, _, _ := strings.Cut(r.PathValue("id"), ".")
	id, err := uuid.Parse(versionText)
	if err != nil {
		return id, errNotFound
	}
	v, err := a.State.Get(r.Context(), p.OrgID, id)
	return v.WorkspaceID, err
}

// stateVersionFilter reads the workspace of a state version list's filter.
func stateVersionFilter(a *api, r *http.Request, p org.Principal) (uuid.UUID, error) {
	ws, err := a.filteredWorkspace(r, p)
	return ws.ID, err
}

// runTriggerPath answers the downstream workspace, the trigger's owner.
func runTriggerPath(a *api, r *http.Request, p org.Principal) (uuid.UUID, error) {
	down, _, err := parseTriggerID(r.PathValue("id"))
	if err != nil {
		return down, err
	}
	ws, err := a.Workspaces.Get(r.Context(), p.OrgID, down)
	return ws.ID, err
}

// bodyWorkspace reads the workspace a run's or a team access's creation
// names in its body (relationships.workspace), and puts the body back for
// the endpoint.
func bodyWorkspace(a *api, r *http.Request, p org.Principal) (uuid.UUID, error) {
	doc, err := readBody(r, 1<<20, fmt.Errorf("%w: the document is larger than %d bytes", errTooLarge, 1<<20), "the document")
	if err != nil {
		return uuid.Nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(doc))
	var in struct {
		Data struct {
			Relationships struct {
				Workspace struct {
					Data struct {
						ID string `json:"id"`
					} `json:"data"`
				} `json:"workspace"`
			} `json:"relationships"`
		} `json:"data"`
	}
	if err := json.Unmarshal(doc, &in); err != nil {
		return uuid.Nil, validate.Errorf("the body is not a JSON:API document of the expected type: %v", err)
	}
	text := in.Data.Relationships.Workspace.Data.ID
	if text == "" {
		return uuid.Nil, validate.Errorf("the document needs its workspace relationship")
	}
	id, err := uuid.Parse(text)
	if err != nil {
		return id, fmt.Errorf("%w: no workspace %q", errNotFound, text)
	}
	ws, err := a.Workspaces.Get(r.Context(), p.OrgID, id)
	return ws.ID, err
}

// teamAccessPath answers the workspace of a team access's id.
func teamAccessPath(a *api, r *http.Request, p org.Principal) (uuid.UUID, error) {
	_, id, err := parseTeamAccessID(r.PathValue("id"))
	if err != nil {
		return id, err
	}
	ws, err := a.Workspaces.Get(r.Context(), p.OrgID, id)
	return ws.ID, err
}

// teamAccessFilter answers the workspace a team access list filters on.
func teamAccessFilter(a *api, r *http.Request, p org.Principal) (uuid.UUID, error) {
	id, err := uuid.Parse(r.URL.Query().Get("filter[workspace][id]"))
	if err != nil {
		return id, validate.Errorf("filter[workspace][id] is required")
	}
	ws, err := a.Workspaces.Get(r.Context(), p.OrgID, id)
	return ws.ID, err
}
