package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/httpapi"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/testkit/lambdatest"
	"github.com/runplane/runplane/internal/tfeapi"
)

// caller is one principal of the matrix and what it should reach on the
// fixture's workspace.
type caller struct {
	name  string
	token string
	level org.Level
	// owner: owns acme; site: the site admin; other: owns another
	// organization; user: a user's token.
	owner, site, other, user bool
}

// needs is the access model endpoint by endpoint, as docs/security.md
// states it: the route tables must say the same, and the matrix expects
// what this says, not what the tables say.
var needs = map[string]string{
	"POST /api/v1/admin/signing-keys/actions/rotate":                           "site-admin",
	"GET /api/v1/admin/events":                                                 "site-admin",
	"POST /api/v1/admin/events/{id}/actions/retry":                             "site-admin",
	"POST /api/v1/organizations":                                               "site-admin",
	"PATCH /api/v1/organizations/{org}":                                        "site-admin",
	"GET /api/v1/organizations":                                                "anyone",
	"GET /api/v1/organizations/{org}":                                          "anyone",
	"GET /api/v1/account":                                                      "anyone",
	"POST /api/v1/account/tokens":                                              "anyone",
	"GET /api/v1/account/tokens":                                               "anyone",
	"DELETE /api/v1/account/tokens/{id}":                                       "anyone",
	"POST /api/v1/organizations/{org}/tokens":                                  "owner or site-admin",
	"GET /api/v1/organizations/{org}/tokens":                                   "owner or site-admin",
	"GET /api/v1/organizations/{org}/tokens/{id}":                              "owner or site-admin",
	"DELETE /api/v1/organizations/{org}/tokens/{id}":                           "owner or site-admin",
	"GET /api/v1/organizations/{org}/audit":                                    "owner or site-admin",
	"GET /api/v1/organizations/{org}/audit/verify":                             "owner or site-admin",
	"POST /api/v1/organizations/{org}/users":                                   "owner or site-admin",
	"GET /api/v1/organizations/{org}/users":                                    "owner or site-admin",
	"DELETE /api/v1/organizations/{org}/users/{user}":                          "owner or site-admin",
	"POST /api/v1/organizations/{org}/users/{user}/tokens":                     "owner or site-admin",
	"POST /api/v1/organizations/{org}/teams":                                   "owner or site-admin",
	"GET /api/v1/organizations/{org}/teams":                                    "member",
	"GET /api/v1/organizations/{org}/teams/{team}":                             "member",
	"DELETE /api/v1/organizations/{org}/teams/{team}":                          "owner or site-admin",
	"PUT /api/v1/organizations/{org}/teams/{team}/members/{user}":              "owner or site-admin",
	"DELETE /api/v1/organizations/{org}/teams/{team}/members/{user}":           "owner or site-admin",
	"POST /api/v1/organizations/{org}/teams/{team}/tokens":                     "owner or site-admin",
	"POST /api/v1/organizations/{org}/workspaces":                              "owner",
	"GET /api/v1/organizations/{org}/workspaces":                               "member",
	"GET /api/v1/organizations/{org}/deleted-workspaces":                       "owner",
	"POST /api/v1/organizations/{org}/deleted-workspaces/{id}/actions/restore": "owner",
	"POST /api/v1/organizations/{org}/agent-pools":                             "owner",
	"GET /api/v1/organizations/{org}/agent-pools":                              "member",
	"DELETE /api/v1/organizations/{org}/agent-pools/{id}":                      "owner",
	"POST /api/v1/organizations/{org}/policies":                                "owner",
	"GET /api/v1/organizations/{org}/policies":                                 "member",
	"DELETE /api/v1/policies/{id}":                                             "owner",
	"POST /api/v1/organizations/{org}/varsets":                                 "owner",
	"GET /api/v1/organizations/{org}/varsets":                                  "member",
	"GET /api/v1/varsets/{id}":                                                 "member",
	"PATCH /api/v1/varsets/{id}":                                               "owner",
	"DELETE /api/v1/varsets/{id}":                                              "owner",
	"POST /api/v1/varsets/{id}/vars":                                           "owner",
	"GET /api/v1/varsets/{id}/vars":                                            "member",
	"POST /api/v1/varsets/{id}/workspaces":                                     "owner",
	"DELETE /api/v1/varsets/{id}/workspaces/{workspace}":                       "owner",
	"GET /api/v1/organizations/{org}/workspaces/{name}":                        "workspace:read",
	"GET /api/v1/workspaces/{id}":                                              "workspace:read",
	"PATCH /api/v1/workspaces/{id}":                                            "workspace:admin",
	"DELETE /api/v1/workspaces/{id}":                                           "workspace:admin",
	"POST /api/v1/workspaces/{id}/actions/lock":                                "workspace:write",
	"POST /api/v1/workspaces/{id}/actions/unlock":                              "workspace:write",
	"POST /api/v1/workspaces/{id}/actions/force-unlock":                        "workspace:admin",
	"GET /api/v1/workspaces/{id}/team-access":                                  "workspace:read",
	"PUT /api/v1/workspaces/{id}/team-access/{team}":                           "workspace:admin",
	"DELETE /api/v1/workspaces/{id}/team-access/{team}":                        "workspace:admin",
	"POST /api/v1/workspaces/{id}/configuration-versions":                      "workspace:plan",
	"POST /api/v1/workspaces/{id}/runs":                                        "workspace:plan",
	"GET /api/v1/workspaces/{id}/runs":                                         "workspace:read",
	"GET /api/v1/runs/{id}":                                                    "workspace:read",
	"GET /api/v1/runs/{id}/logs":                                               "workspace:read",
	"GET /api/v1/runs/{id}/policy-checks":                                      "workspace:read",
	"POST /api/v1/runs/{id}/actions/confirm":                                   "workspace:write",
	"POST /api/v1/runs/{id}/actions/discard":                                   "workspace:write",
	"POST /api/v1/runs/{id}/actions/cancel":                                    "workspace:write",
	"POST /api/v1/runs/{id}/actions/force-cancel":                              "workspace:write",
	"POST /api/v1/runs/{id}/actions/override":                                  "workspace:admin",
	"GET /api/v1/workspaces/{id}/state-versions":                               "workspace:read",
	"GET /api/v1/workspaces/{id}/current-state-version":                        "workspace:read",
	"POST /api/v1/workspaces/{id}/state-versions/{sv}/rollback":                "workspace:write",
	"GET /api/v1/state-versions/{id}":                                          "workspace:read",
	"GET /api/v1/state-versions/{id}/download":                                 "workspace:write",
	"GET /api/v1/workspaces/{id}/outputs":                                      "workspace:read",
	"POST /api/v1/workspaces/{id}/triggers":                                    "workspace:admin",
	"GET /api/v1/workspaces/{id}/triggers":                                     "workspace:read",
	"DELETE /api/v1/workspaces/{id}/triggers/{upstream}":                       "workspace:admin",
	"POST /api/v1/workspaces/{id}/vars":                                        "workspace:write",
	"GET /api/v1/workspaces/{id}/vars":                                         "workspace:read",
	"GET /api/v1/vars/{id}":                                                    "workspace:read",
	"PATCH /api/v1/vars/{id}":                                                  "workspace:write",
	"DELETE /api/v1/vars/{id}":                                                 "workspace:write",
	"GET /api/v1/workspaces/{id}/state":                                        "workspace:write",
	"POST /api/v1/workspaces/{id}/state":                                       "workspace:write",
	"LOCK /api/v1/workspaces/{id}/state":                                       "workspace:write",
	"UNLOCK /api/v1/workspaces/{id}/state":                                     "workspace:write",
	"POST /api/v1/workspaces/{id}/state/lock":                                  "workspace:write",
	"POST /api/v1/workspaces/{id}/state/unlock":                                "workspace:write",
	"POST /api/v1/workspaces/{id}/state/objects":                               "workspace:write",
	"PUT /api/v1/workspaces/{id}/state/objects/{object}":                       "workspace:write",
	"GET /api/v2/account/details":                                              "anyone",
	"POST /api/v2/organizations":                                               "site-admin",
	"GET /api/v2/organizations/{org}":                                          "anyone",
	"POST /api/v2/organizations/{org}/authentication-token":                    "owner or site-admin",
	"DELETE /api/v2/organizations/{org}/authentication-token":                  "owner or site-admin",
	"POST /api/v2/organizations/{org}/workspaces":                              "owner",
	"GET /api/v2/organizations/{org}/workspaces":                               "member",
	"GET /api/v2/organizations/{org}/entitlement-set":                          "member",
	"GET /api/v2/organizations/{org}/runs/queue":                               "member",
	"GET /api/v2/organizations/{org}/capacity":                                 "member",
	"POST /api/v2/organizations/{org}/varsets":                                 "owner",
	"GET /api/v2/organizations/{org}/varsets":                                  "member",
	"GET /api/v2/varsets/{id}":                                                 "member",
	"PATCH /api/v2/varsets/{id}":                                               "owner",
	"DELETE /api/v2/varsets/{id}":                                              "owner",
	"POST /api/v2/varsets/{id}/relationships/workspaces":                       "owner",
	"DELETE /api/v2/varsets/{id}/relationships/workspaces":                     "owner",
	"POST /api/v2/varsets/{id}/relationships/vars":                             "owner",
	"GET /api/v2/varsets/{id}/relationships/vars":                              "member",
	"GET /api/v2/varsets/{id}/relationships/vars/{var}":                        "member",
	"PATCH /api/v2/varsets/{id}/relationships/vars/{var}":                      "owner",
	"DELETE /api/v2/varsets/{id}/relationships/vars/{var}":                     "owner",
	"POST /api/v2/runs":                                                        "workspace:plan",
	"GET /api/v2/organizations/{org}/teams":                                    "member",
	"POST /api/v2/organizations/{org}/teams":                                   "owner or site-admin",
	"GET /api/v2/teams/{id}":                                                   "member",
	"DELETE /api/v2/teams/{id}":                                                "owner",
	"GET /api/v2/team-workspaces":                                              "workspace:read",
	"POST /api/v2/team-workspaces":                                             "workspace:admin",
	"GET /api/v2/team-workspaces/{id}":                                         "workspace:read",
	"PATCH /api/v2/team-workspaces/{id}":                                       "workspace:admin",
	"DELETE /api/v2/team-workspaces/{id}":                                      "workspace:admin",
	"GET /api/v2/organizations/{org}/workspaces/{name}":                        "workspace:read",
	"GET /api/v2/workspaces/{id}":                                              "workspace:read",
	"PATCH /api/v2/workspaces/{id}":                                            "workspace:admin",
	"PATCH /api/v2/organizations/{org}/workspaces/{name}":                      "workspace:admin",
	"DELETE /api/v2/workspaces/{id}":                                           "workspace:admin",
	"DELETE /api/v2/organizations/{org}/workspaces/{name}":                     "workspace:admin",
	"POST /api/v2/workspaces/{id}/actions/lock":                                "workspace:write",
	"POST /api/v2/workspaces/{id}/actions/unlock":                              "workspace:write",
	"POST /api/v2/workspaces/{id}/actions/force-unlock":                        "workspace:admin",
	"POST /api/v2/workspaces/{id}/vars":                                        "workspace:write",
	"GET /api/v2/workspaces/{id}/vars":                                         "workspace:read",
	"GET /api/v2/workspaces/{id}/vars/{var}":                                   "workspace:read",
	"PATCH /api/v2/workspaces/{id}/vars/{var}":                                 "workspace:write",
	"DELETE /api/v2/workspaces/{id}/vars/{var}":                                "workspace:write",
	"GET /api/v2/workspaces/{id}/varsets":                                      "workspace:read",
	"POST /api/v2/workspaces/{id}/run-triggers":                                "workspace:admin",
	"GET /api/v2/workspaces/{id}/run-triggers":                                 "workspace:read",
	"GET /api/v2/run-triggers/{id}":                                            "workspace:read",
	"DELETE /api/v2/run-triggers/{id}":                                         "workspace:admin",
	"POST /api/v2/workspaces/{id}/configuration-versions":                      "workspace:plan",
	"GET /api/v2/workspaces/{id}/configuration-versions":                       "workspace:read",
	"GET /api/v2/configuration-versions/{id}":                                  "workspace:read",
	"GET /api/v2/configuration-versions/{id}/download":                         "workspace:plan",
	"GET /api/v2/runs/{id}":                                                    "workspace:read",
	"GET /api/v2/workspaces/{id}/runs":                                         "workspace:read",
	"POST /api/v2/runs/{id}/actions/apply":                                     "workspace:write",
	"POST /api/v2/runs/{id}/actions/discard":                                   "workspace:write",
	"POST /api/v2/runs/{id}/actions/cancel":                                    "workspace:write",
	"POST /api/v2/runs/{id}/actions/force-cancel":                              "workspace:write",
	"GET /api/v2/runs/{id}/run-events":                                         "workspace:read",
	"GET /api/v2/plans/{id}":                                                   "workspace:read",
	"GET /api/v2/plans/{id}/json-output":                                       "workspace:admin",
	"GET /api/v2/applies/{id}":                                                 "workspace:read",
	"GET /api/v2/runs/{id}/policy-checks":                                      "workspace:read",
	"GET /api/v2/policy-checks/{id}":                                           "workspace:read",
	"GET /api/v2/policy-checks/{id}/output":                                    "workspace:read",
	"POST /api/v2/policy-checks/{id}/actions/override":                         "workspace:admin",
	"POST /api/v2/workspaces/{id}/state-versions":                              "workspace:write",
	"GET /api/v2/workspaces/{id}/current-state-version":                        "workspace:read",
	"GET /api/v2/workspaces/{id}/current-state-version-outputs":                "workspace:read",
	"GET /api/v2/state-versions":                                               "workspace:read",
	"GET /api/v2/state-versions/{id}":                                          "workspace:read",
	"GET /api/v2/state-versions/{id}/download":                                 "workspace:write",
	"GET /api/v2/state-versions/{id}/outputs":                                  "workspace:read",
	"GET /api/v2/state-version-outputs/{id}":                                   "workspace:read",
}

// allowed is the matrix's expectation of c on the endpoint pattern.
func (c caller) allowed(pattern string) bool {
	names := strings.Contains(pattern, "{")
	need := needs[pattern]
	switch need {
	case "anyone":
		if strings.HasPrefix(pattern, "POST /api/v1/account/tokens") || pattern == "GET /api/v1/account/tokens" {
			return c.user // a user manages its own tokens
		}
		if pattern == "DELETE /api/v1/account/tokens/{id}" {
			return false // the fixture's token is no caller's own
		}
		return !names || !c.other
	case "site-admin":
		return c.site
	case "owner", "owner or site-admin":
		return !c.other && (c.owner || c.site && need == "owner or site-admin")
	case "member":
		return !c.other && !c.site
	}
	level, err := org.ParseLevel(strings.TrimPrefix(need, "workspace:"))
	return err == nil && !c.other && !c.site && c.level >= level
}

// matrix is an organization acme with a caller per level, and the means
// to make a fresh set of objects to aim requests at.
type matrix struct {
	t       *testing.T
	own     client
	callers []caller
	n       atomic.Int64
	// seq is the audit trail's last entry seen.
	seq float64
}

// fixture is one set of acme's objects, each reachable by the path
// parameters that name it.
type fixture struct {
	ws, wsName, upstream, run, stateVersion, variable, varset, setVariable string
	policy, pool, token, deleted, team, teamID, user, configuration        string
}

func newMatrix(t *testing.T) *matrix {
	own := setup(t, "acme")
	m := &matrix{t: t, own: own}
	rival := own.newOrg("rival")
	site := own.as(adminToken)
	for _, l := range []org.Level{org.LevelRead, org.LevelPlan, org.LevelWrite, org.LevelAdmin} {
		own.do("POST", "/api/v1/organizations/acme/teams", `{"name":"t-`+l.String()+`"}`, 201)
	}
	own.do("POST", "/api/v1/organizations/acme/teams", `{"name":"t-none"}`, 201)
	teamToken := func(team string) string {
		return own.do("POST", "/api/v1/organizations/acme/teams/"+team+"/tokens", `{"description":"ci"}`, 201)["token"].(string)
	}
	invite := func(name, team string) string {
		tok := own.do("POST", "/api/v1/organizations/acme/users", `{"username":"`+name+`"}`, 201)["token"].(map[string]any)["token"].(string)
		own.do("PUT", "/api/v1/organizations/acme/teams/"+team+"/members/"+name, "", 204)
		return tok
	}
	orgToken := func(role string) string {
		return own.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"legacy","role":"`+role+`"}`, 201)["token"].(string)
	}
	m.callers = []caller{
		{name: "team-none", token: teamToken("t-none"), level: org.LevelNone},
		{name: "team-read", token: teamToken("t-read"), level: org.LevelRead},
		{name: "team-plan", token: teamToken("t-plan"), level: org.LevelPlan},
		{name: "team-write", token: teamToken("t-write"), level: org.LevelWrite},
		{name: "team-admin", token: teamToken("t-admin"), level: org.LevelAdmin},
		{name: "user-plan", token: invite("ann", "t-plan"), level: org.LevelPlan, user: true},
		{name: "user-owner", token: invite("olga", org.OwnersTeam), level: org.LevelAdmin, owner: true, user: true},
		{name: "org-read", token: orgToken("read"), level: org.LevelRead},
		{name: "org-write", token: orgToken("write"), level: org.LevelWrite},
		{name: "org-admin", token: own.token, level: org.LevelAdmin, owner: true},
		{name: "site-admin", token: site.token, site: true},
		{name: "other-org-owner", token: rival.token, other: true},
	}
	return m
}

// fixture makes acme's objects, the workspace with each team's level on it.
func (m *matrix) fixture() fixture {
	c := m.own
	n := m.n.Add(1)
	f := fixture{wsName: fmt.Sprintf("w%d", n)}
	f.ws = c.workspace("acme", f.wsName)
	for _, l := range []string{"read", "plan", "write", "admin"} {
		c.do("PUT", "/api/v1/workspaces/"+f.ws+"/team-access/t-"+l, `{"access":"`+l+`"}`, 200)
	}
	f.upstream = c.workspace("acme", fmt.Sprintf("up%d", n))
	for _, l := range []string{"read", "plan", "write", "admin"} {
		c.do("PUT", "/api/v1/workspaces/"+f.upstream+"/team-access/t-"+l, `{"access":"read"}`, 200)
	}
	c.do("POST", "/api/v1/workspaces/"+f.ws+"/triggers", `{"upstream_workspace_id":"`+f.upstream+`"}`, 201)
	f.configuration = c.do("POST", "/api/v1/workspaces/"+f.ws+"/configuration-versions", string(lambdatest.Tarball(map[string]string{"main.tf": ""})), 201)["id"].(string)
	f.run = c.do("POST", "/api/v1/workspaces/"+f.ws+"/runs", `{"plan_only":true}`, 201)["id"].(string)
	c.do("LOCK", "/api/v1/workspaces/"+f.ws+"/state", `{"ID":"l1"}`, 200)
	c.do("POST", "/api/v1/workspaces/"+f.ws+"/state?ID=l1",
		`{"version":4,"terraform_version":"1.9.0","serial":1,"lineage":"matrix","outputs":{"x":{"value":"1","type":"string"}},"resources":[]}`, 200)
	c.do("UNLOCK", "/api/v1/workspaces/"+f.ws+"/state", `{"ID":"l1"}`, 200)
	f.stateVersion = c.do("GET", "/api/v1/workspaces/"+f.ws+"/current-state-version", "", 200)["id"].(string)
	f.variable = c.do("POST", "/api/v1/workspaces/"+f.ws+"/vars", `{"key":"k","value":"v","category":"terraform"}`, 201)["id"].(string)
	f.varset = c.do("POST", "/api/v1/organizations/acme/varsets", fmt.Sprintf(`{"name":"s%d","workspace_ids":["%s"]}`, n, f.ws), 201)["id"].(string)
	f.setVariable = c.do("POST", "/api/v1/varsets/"+f.varset+"/vars", `{"key":"sk","value":"v","category":"env"}`, 201)["id"].(string)
	f.policy = c.do("POST", "/api/v1/organizations/acme/policies", fmt.Sprintf(`{"name":"p%d","rego":"package p\n\ndeny contains \"no\" if { input.x }","enforcement":"advisory"}`, n), 201)["id"].(string)
	f.pool = c.do("POST", "/api/v1/organizations/acme/agent-pools", fmt.Sprintf(`{"name":"pool%d"}`, n), 201)["id"].(string)
	f.token = c.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"victim","role":"read"}`, 201)["id"].(string)
	gone := c.workspace("acme", fmt.Sprintf("gone%d", n))
	f.deleted = c.do("DELETE", "/api/v1/workspaces/"+gone, "", 200)["id"].(string)
	f.team = fmt.Sprintf("team%d", n)
	f.teamID = c.do("POST", "/api/v1/organizations/acme/teams", `{"name":"`+f.team+`"}`, 201)["id"].(string)
	c.do("PUT", "/api/v1/workspaces/"+f.ws+"/team-access/"+f.team, `{"access":"read"}`, 200)
	f.user = fmt.Sprintf("user%d", n)
	c.do("POST", "/api/v1/organizations/acme/users", `{"username":"`+f.user+`"}`, 201)
	c.do("PUT", "/api/v1/organizations/acme/teams/"+f.team+"/members/"+f.user, "", 204)
	return f
}

var param = regexp.MustCompile(`\{(\w+)\}`)

// path fills a route's pattern with the fixture's objects: an {id} is the
// object the segment before it names.
func (f fixture) path(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	segs := strings.Split(path, "/")
	for i, s := range segs {
		name := param.FindStringSubmatch(s)
		if name == nil {
			continue
		}
		prev := segs[i-1]
		switch name[1] {
		case "org":
			segs[i] = "acme"
		case "name":
			segs[i] = f.wsName
		case "sv":
			segs[i] = f.stateVersion
		case "upstream":
			segs[i] = f.upstream
		case "workspace":
			segs[i] = f.ws
		case "team":
			segs[i] = f.team
		case "user":
			segs[i] = f.user
		case "var":
			segs[i] = f.variable
			if strings.Contains(path, "/varsets/") {
				segs[i] = f.setVariable
			}
		case "id":
			segs[i] = map[string]string{
				"workspaces": f.ws, "runs": f.run, "plans": f.run, "applies": f.run, "policy-checks": f.run,
				"state-versions": f.stateVersion, "state-version-outputs": f.stateVersion + ".x",
				"vars": f.variable, "varsets": f.varset, "policies": f.policy, "agent-pools": f.pool,
				"tokens": f.token, "deleted-workspaces": f.deleted, "configuration-versions": f.configuration,
				"run-triggers": f.ws + "." + f.upstream, "teams": f.teamID, "team-workspaces": f.teamID + "." + f.ws,
			}[prev]
			if strings.HasPrefix(path, "/api/v1/account/") {
				segs[i] = f.token
			}
		default:
			segs[i] = uuid.NewString() // an object no fixture has (events, uploads)
		}
	}
	path = strings.Join(segs, "/")
	switch path {
	case "/api/v2/state-versions":
		path += "?filter[organization][name]=acme&filter[workspace][name]=" + f.wsName
	case "/api/v2/team-workspaces":
		if method == "GET" {
			path += "?filter[workspace][id]=" + f.ws
		}
	}
	return method, path
}

// body is a request body that passes the access check's callers on to the
// endpoint: mostly {} (which endpoints refuse or accept, either way past
// the check), the workspace for a TFE run.
func (f fixture) body(pattern string) string {
	switch pattern {
	case "POST /api/v1/workspaces/{id}/runs":
		return `{"plan_only":true}`
	case "POST /api/v2/team-workspaces":
		return `{"data":{"type":"team-workspaces","attributes":{"access":"plan"},"relationships":{"team":{"data":{"type":"teams","id":"` + f.teamID + `"}},"workspace":{"data":{"type":"workspaces","id":"` + f.ws + `"}}}}}`
	case "POST /api/v2/runs":
		return `{"data":{"type":"runs","attributes":{"plan-only":true},"relationships":{"workspace":{"data":{"type":"workspaces","id":"` + f.ws + `"}}}}}`
	case "GET /api/v1/workspaces/{id}/state":
		return ""
	case "UNLOCK /api/v1/workspaces/{id}/state", "POST /api/v1/workspaces/{id}/state/unlock":
		return `{"ID":"l1"}` // no body would be a force-unlock
	case "POST /api/v1/workspaces/{id}/triggers":
		return `{"upstream_workspace_id":"` + f.upstream + `"}`
	case "POST /api/v1/varsets/{id}/workspaces":
		return `{"workspace_id":"` + f.ws + `"}`
	}
	return "{}"
}

// send makes a request as c and answers its status and body.
func (m *matrix) send(c caller, method, path, body string) (int, string) {
	req, _ := http.NewRequest(method, m.own.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	if strings.HasPrefix(path, "/api/v2/") {
		req.Header.Set("Content-Type", "application/vnd.api+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// changed reports whether acme's audit trail grew since it was last
// read: every change writes an entry in its own transaction.
func (m *matrix) changed() bool {
	next := m.own.do("GET", fmt.Sprintf("/api/v1/organizations/acme/audit?limit=1000&after=%.0f", m.seq), "", 200)["next_after"].(float64)
	grew := next != m.seq
	m.seq = next
	return grew
}

// TestEveryEndpointAtEveryLevel walks both APIs' route tables: every
// endpoint, as a team at each level, a user, organization tokens of each
// role, an owner, the site admin and another organization's owner. A
// refused request answers 403 (or 404 where the caller may not see the
// object) and changes nothing; an admitted one gets past the check.
func TestEveryEndpointAtEveryLevel(t *testing.T) {
	m := newMatrix(t)
	routes := allRoutes()
	checkNeeds(t, routes)
	shared := m.fixture()
	for _, rt := range routes {
		method, _ := shared.path(rt.Pattern)
		for _, c := range m.callers {
			f := shared
			want := c.allowed(rt.Pattern)
			if want && method != "GET" {
				f = m.fixture() // an admitted change may consume its objects
			}
			method, path := f.path(rt.Pattern)
			m.changed()
			status, body := m.send(c, method, path, f.body(rt.Pattern))
			switch {
			case status == 401:
				t.Errorf("%s as %s: 401: %s", rt.Pattern, c.name, body)
			case want && (status == 403 || status == 404 && !absent(rt, body)):
				t.Errorf("%s (needs %s) as %s: refused %d, want admitted: %s", rt.Pattern, needs[rt.Pattern], c.name, status, body)
			case !want && status != 403 && status != 404:
				t.Errorf("%s (needs %s) as %s: %d, want refused: %s", rt.Pattern, needs[rt.Pattern], c.name, status, body)
			case !want && status == 403 && hidden(c, rt):
				t.Errorf("%s as %s: 403 tells the object exists; want 404", rt.Pattern, c.name)
			case !want && m.changed():
				t.Errorf("%s as %s: refused with %d but the audit trail grew", rt.Pattern, c.name, status)
			}
		}
	}
}

// absent: the endpoint, past the check, found no such object, as it must
// for objects a fresh fixture lacks (an event, a policy check).
func absent(rt httpapi.Route, body string) bool {
	return strings.Contains(rt.Pattern, "/admin/events/") || strings.Contains(body, "the run has no policy check")
}

func allRoutes() []httpapi.Route {
	routes := httpapi.Routes()
	for _, rt := range tfeapi.Routes() {
		routes = append(routes, httpapi.Route(rt))
	}
	return routes
}

// checkNeeds fails unless the route tables and the model name the same
// endpoints with the same needs.
func checkNeeds(t *testing.T, routes []httpapi.Route) {
	t.Helper()
	seen := map[string]bool{}
	for _, rt := range routes {
		seen[rt.Pattern] = true
		if want, ok := needs[rt.Pattern]; !ok {
			t.Errorf("%s is not in the access model (needs, docs/security.md)", rt.Pattern)
		} else if rt.Need.String() != want {
			t.Errorf("%s needs %s in its route table; the model says %s", rt.Pattern, rt.Need, want)
		}
	}
	doc, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	for pattern, need := range needs {
		if !seen[pattern] {
			t.Errorf("%s is in the access model but no route serves it", pattern)
		}
		if row := "| `" + pattern + "` | " + need + " |"; !strings.Contains(string(doc), row) {
			t.Errorf("docs/security.md lacks the row %s", row)
		}
	}
}

// hidden: the caller may not learn that the request's object exists.
func hidden(c caller, rt httpapi.Route) bool {
	need := needs[rt.Pattern]
	if need == "site-admin" || c.site || !strings.Contains(rt.Pattern, "{") || strings.Contains(rt.Pattern, " /api/v1/account/") {
		return false
	}
	return c.other || (strings.HasPrefix(need, "workspace:") && c.level == org.LevelNone)
}
