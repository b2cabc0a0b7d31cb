package httpapi_test

import "testing"

// Deletion is for the workspace's own organization admins, and a deleted
// workspace takes nothing: no runs, no second delete (a double click), no
// restore of a live one.
func TestWorkspaceDeletionRefusals(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	ws := c.workspace("acme", "network")
	other := c.newOrg("globex")
	other.do("DELETE", "/api/v1/workspaces/"+ws, "", 404)
	reader := c.as(c.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"r","role":"read"}`, 201)["token"].(string))
	reader.do("DELETE", "/api/v1/workspaces/"+ws, "", 403)
	reader.do("GET", "/api/v1/organizations/acme/deleted-workspaces", "", 403)
	c.do("POST", "/api/v1/organizations/acme/deleted-workspaces/"+ws+"/actions/restore", "", 404)
	c.do("DELETE", "/api/v1/workspaces/"+ws, "", 200)
	c.do("DELETE", "/api/v1/workspaces/"+ws, "", 404)
	c.do("POST", "/api/v1/workspaces/"+ws+"/runs", `{}`, 404)
	c.do("PATCH", "/api/v1/workspaces/"+ws, `{"auto_apply":true}`, 404)
	c.do("POST", "/api/v1/workspaces/"+ws+"/actions/lock", `{}`, 404)
	c.do("POST", "/api/v1/workspaces/"+ws+"/vars", `{"key":"a","value":"b","category":"env"}`, 404)
	c.do("GET", "/api/v1/workspaces/"+ws+"/vars", "", 404)
	c.do("GET", "/api/v1/workspaces/"+ws+"/runs", "", 404)
	c.do("GET", "/api/v1/workspaces/"+ws+"/state-versions", "", 404)
	c.do("GET", "/api/v1/workspaces/"+ws+"/outputs", "", 404)
	c.do("POST", "/api/v1/workspaces/"+ws+"/configuration-versions", "x", 404)
	live := c.workspace("acme", "app")
	c.do("POST", "/api/v1/workspaces/"+live+"/triggers", `{"upstream_workspace_id":"`+ws+`"}`, 404)
	c.do("PATCH", "/api/v1/workspaces/"+live, `{"remote_state_consumers":["`+ws+`"]}`, 400)
	other.do("POST", "/api/v1/organizations/acme/deleted-workspaces/"+ws+"/actions/restore", "", 404)
	if items := c.do("GET", "/api/v1/organizations/acme/deleted-workspaces", "", 200)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["name"] != "network" {
		t.Fatalf("deleted list: %v", items)
	}
	if listed := c.do("GET", "/api/v1/organizations/acme/workspaces", "", 200)["items"].([]any); len(listed) != 1 {
		t.Fatalf("the deleted workspace is listed: %v", listed)
	}
}
