package httpapi_test

import (
	"net/http"
	"testing"
)

// status sends a request with token (basic auth for the state backend, as
// terraform does) and answers the status.
func status(t *testing.T, c client, method, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest(method, c.base+path, nil)
	if path[len(path)-6:] == "/state" {
		req.SetBasicAuth("runplane", token)
	} else {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A platform team's day: teams get levels on workspaces, users join them,
// a user's reach is the union of their teams', and it ends at once when the
// user leaves, the team goes or the token is revoked.
func TestTeamsUsersAndWorkspaceAccess(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	net, app := c.workspace("acme", "network"), c.workspace("acme", "app")
	c.workspace("acme", "billing") // no team reaches it
	c.do("POST", "/api/v1/organizations/acme/teams", `{"name":"devs"}`, 201)
	c.do("POST", "/api/v1/organizations/acme/teams", `{"name":"sre"}`, 201)
	c.do("POST", "/api/v1/organizations/acme/teams", `{"name":"devs"}`, 409)
	c.do("PUT", "/api/v1/workspaces/"+app+"/team-access/devs", `{"access":"plan"}`, 200)
	c.do("PUT", "/api/v1/workspaces/"+net+"/team-access/devs", `{"access":"read"}`, 200)
	c.do("PUT", "/api/v1/workspaces/"+net+"/team-access/sre", `{"access":"write"}`, 200)
	c.do("PUT", "/api/v1/workspaces/"+net+"/team-access/sre", `{"access":"owner"}`, 400)
	c.do("PUT", "/api/v1/workspaces/"+net+"/team-access/owners", `{"access":"read"}`, 409)

	invited := c.do("POST", "/api/v1/organizations/acme/users", `{"username":"ann"}`, 201)
	ann := c.as(invited["token"].(map[string]any)["token"].(string))
	c.do("POST", "/api/v1/organizations/acme/users", `{"username":"ann"}`, 409)
	// Before joining a team, ann sees the organization but no workspace.
	if items := ann.do("GET", "/api/v1/organizations/acme/workspaces", "", 200)["items"].([]any); len(items) != 0 {
		t.Fatalf("a user in no team sees %v", items)
	}
	ann.do("GET", "/api/v1/workspaces/"+app, "", 404)
	c.do("PUT", "/api/v1/organizations/acme/teams/devs/members/ann", "", 204)

	// devs: plan on app (plan-only runs, not applies), read on network.
	names := func(cl client) []string {
		var out []string
		for _, it := range cl.do("GET", "/api/v1/organizations/acme/workspaces", "", 200)["items"].([]any) {
			out = append(out, it.(map[string]any)["name"].(string))
		}
		return out
	}
	if got := names(ann); len(got) != 2 || got[0] != "app" || got[1] != "network" {
		t.Fatalf("ann sees %v, want [app network]", got)
	}
	ann.do("POST", "/api/v1/workspaces/"+app+"/runs", `{"plan_only":true}`, 201)
	ann.do("POST", "/api/v1/workspaces/"+app+"/runs", `{}`, 403)
	ann.do("POST", "/api/v1/workspaces/"+net+"/runs", `{"plan_only":true}`, 403)
	ann.do("POST", "/api/v1/workspaces/"+net+"/actions/lock", "", 403)
	if got := status(t, c, "GET", "/api/v1/workspaces/"+net+"/state", ann.token); got != 403 {
		t.Fatalf("raw state with read access: %d, want 403", got)
	}
	ann.do("GET", "/api/v1/workspaces/"+net+"/outputs", "", 200)

	// Joining sre adds write on network: the highest level of her teams.
	c.do("PUT", "/api/v1/organizations/acme/teams/sre/members/ann", "", 204)
	ann.do("POST", "/api/v1/workspaces/"+net+"/actions/lock", `{"reason":"maintenance"}`, 200)
	ann.do("POST", "/api/v1/workspaces/"+net+"/actions/force-unlock", "", 403)
	ann.do("POST", "/api/v1/workspaces/"+net+"/actions/unlock", "", 200)
	if got := status(t, c, "GET", "/api/v1/workspaces/"+net+"/state", ann.token); got != 204 {
		t.Fatalf("raw state with write access: %d, want 204 (no state yet)", got)
	}
	// A trigger needs admin downstream and sight of the upstream.
	c.do("PUT", "/api/v1/workspaces/"+app+"/team-access/sre", `{"access":"admin"}`, 200)
	billing := c.do("GET", "/api/v1/organizations/acme/workspaces/billing", "", 200)["id"].(string)
	ann.do("POST", "/api/v1/workspaces/"+app+"/triggers", `{"upstream_workspace_id":"`+billing+`"}`, 404)
	ann.do("POST", "/api/v1/workspaces/"+app+"/triggers", `{"upstream_workspace_id":"`+net+`"}`, 201)

	// A team token acts as the team.
	sreCI := c.as(c.do("POST", "/api/v1/organizations/acme/teams/sre/tokens", `{"description":"ci"}`, 201)["token"].(string))
	if got := names(sreCI); len(got) != 2 || got[0] != "app" || got[1] != "network" {
		t.Fatalf("sre's token sees %v", got)
	}
	sreCI.do("GET", "/api/v1/workspaces/"+billing, "", 404)
	sreCI.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"x"}`, 403)
	sreCI.do("GET", "/api/v1/organizations/acme/tokens", "", 403)

	// A user makes their own tokens; an owner lists them, holder named.
	second := ann.do("POST", "/api/v1/account/tokens", `{"description":"laptop"}`, 201)
	if second["user_id"] != invited["user"].(map[string]any)["id"] || second["role"] != nil {
		t.Fatalf("a user's token: %v", second)
	}
	sreCI.do("POST", "/api/v1/account/tokens", `{"description":"x"}`, 403)
	third := ann.do("POST", "/api/v1/account/tokens", `{"description":"phone"}`, 201)
	if own := ann.do("GET", "/api/v1/account/tokens", "", 200)["items"].([]any); len(own) != 3 || own[2].(map[string]any)["token"] != nil {
		t.Fatalf("ann's tokens: %v", own)
	}
	ann.do("DELETE", "/api/v1/account/tokens/"+third["id"].(string), "", 204)
	c.as(third["token"].(string)).do("GET", "/api/v1/account", "", 401)
	sreCI.do("DELETE", "/api/v1/account/tokens/"+second["id"].(string), "", 403)
	if who := ann.do("GET", "/api/v1/account", "", 200); who["owner"] != false || len(who["teams"].([]any)) != 2 {
		t.Fatalf("account: %v", who)
	}

	// Leaving a team takes its access away on the next request.
	c.do("DELETE", "/api/v1/organizations/acme/teams/sre/members/ann", "", 204)
	ann.do("POST", "/api/v1/workspaces/"+net+"/actions/lock", "", 403)
	c.do("DELETE", "/api/v1/organizations/acme/teams/sre/members/ann", "", 404)
	// Deleting a team stops its tokens and its grants.
	c.do("DELETE", "/api/v1/organizations/acme/teams/owners", "", 409)
	c.do("DELETE", "/api/v1/organizations/acme/teams/sre", "", 204)
	for _, path := range []string{"/api/v1/organizations/acme/workspaces", "/api/v2/organizations/acme", "/api/v1/workspaces/" + net + "/state"} {
		if got := status(t, c, "GET", path, sreCI.token); got != 401 {
			t.Fatalf("GET %s with a deleted team's token: %d, want 401", path, got)
		}
	}
	if access := c.do("GET", "/api/v1/workspaces/"+net+"/team-access", "", 200)["items"].([]any); len(access) != 1 {
		t.Fatalf("a deleted team kept its grants: %v", access)
	}
	// Removing a user stops every token of theirs on the native API, the
	// Terraform Cloud API and the state backend.
	c.do("PUT", "/api/v1/organizations/acme/teams/owners/members/ann", "", 204)
	if who := ann.do("GET", "/api/v1/account", "", 200); who["owner"] != true {
		t.Fatalf("a member of owners is no owner: %v", who)
	}
	c.do("DELETE", "/api/v1/organizations/acme/users/ann", "", 204)
	for _, tok := range []string{ann.token, second["token"].(string)} {
		for _, path := range []string{"/api/v1/organizations/acme/workspaces", "/api/v2/organizations/acme", "/api/v1/workspaces/" + net + "/state"} {
			if got := status(t, c, "GET", path, tok); got != 401 {
				t.Fatalf("GET %s with a removed user's token: %d, want 401", path, got)
			}
		}
	}
	if users := c.do("GET", "/api/v1/organizations/acme/users", "", 200)["items"].([]any); len(users) != 0 {
		t.Fatalf("users: %v", users)
	}

	// Each of these changes is in the audit trail, with who made it.
	trail := c.do("GET", "/api/v1/organizations/acme/audit?limit=1000", "", 200)["items"].([]any)
	seen := map[string]bool{}
	for _, e := range trail {
		entry := e.(map[string]any)
		seen[entry["action"].(string)] = true
		if entry["action"] == "trigger.created" && entry["actor"].(map[string]any)["kind"] != "user" {
			t.Fatalf("a user's change names actor %v", entry["actor"])
		}
	}
	for _, action := range []string{"team.created", "team.deleted", "team.member_added", "team.member_removed", "user.invited",
		"user.removed", "workspace.team_access_set", "token.created", "token.revoked"} {
		if !seen[action] {
			t.Errorf("no %s in the audit trail", action)
		}
	}
}
