package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
)

// Variables through the API: created, listed, changed and deleted with the
// roles as elsewhere; a sensitive value is never answered and cannot be
// made readable again; bad keys, categories and duplicates are clear 4xx
// errors that change nothing; another organization's are 404.
func TestWorkspaceVariables(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	ws := c.workspace("acme", "net")
	plain := c.do("POST", "/api/v1/workspaces/"+ws+"/vars", `{"key":"region","value":"eu-west-1","category":"terraform","description":"where"}`, 201)
	if plain["value"] != "eu-west-1" || plain["sensitive"] != false || plain["hcl"] != false {
		t.Fatalf("plain variable %v", plain)
	}
	secret := c.do("POST", "/api/v1/workspaces/"+ws+"/vars", `{"key":"AWS_SECRET_ACCESS_KEY","value":"abc123-secret","category":"env","sensitive":true}`, 201)
	if v, ok := secret["value"]; !ok || v != nil {
		t.Fatalf("a sensitive variable answered its value: %v", secret)
	}
	secretID := secret["id"].(string)

	list := c.do("GET", "/api/v1/workspaces/"+ws+"/vars", "", 200)["items"].([]any)
	if len(list) != 2 || strings.Contains(fmt.Sprint(list), "abc123-secret") {
		t.Fatalf("list %v", list)
	}
	if got := c.do("GET", "/api/v1/vars/"+secretID, "", 200); got["value"] != nil || got["key"] != "AWS_SECRET_ACCESS_KEY" {
		t.Fatalf("get %v", got)
	}

	// Changes: a new sealed value, a description; never back to readable.
	if got := c.do("PATCH", "/api/v1/vars/"+secretID, `{"value":"rotated-secret","description":"rotated"}`, 200); got["value"] != nil || got["description"] != "rotated" {
		t.Fatalf("patch %v", got)
	}
	c.do("PATCH", "/api/v1/vars/"+secretID, `{"sensitive":false}`, 400)
	if got := c.do("PATCH", "/api/v1/vars/"+plain["id"].(string), `{"sensitive":true}`, 200); got["value"] != nil {
		t.Fatalf("made sensitive but still answered: %v", got)
	}

	// Bad input changes nothing.
	for _, body := range []string{
		`{"key":"1abc","value":"x","category":"terraform"}`,
		`{"key":"has space","value":"x","category":"env"}`,
		`{"key":"TF_HTTP_PASSWORD","value":"x","category":"env"}`,
		`{"key":"ok","value":"x","category":"secret"}`,
		`{"key":"ok","value":"x","category":"terraform","extra":1}`,
		`{"key":"ok","value":"` + strings.Repeat("x", 300<<10) + `","category":"terraform"}`,
		`not json`,
	} {
		c.do("POST", "/api/v1/workspaces/"+ws+"/vars", body, 400)
	}
	c.do("POST", "/api/v1/workspaces/"+ws+"/vars", `{"key":"region","value":"again","category":"terraform"}`, 409)
	if n := len(c.do("GET", "/api/v1/workspaces/"+ws+"/vars", "", 200)["items"].([]any)); n != 2 {
		t.Fatalf("%d variables after refused requests, want 2", n)
	}

	// Roles: read lists, write changes.
	reader := c.as(c.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"r","role":"read"}`, 201)["token"].(string))
	reader.do("GET", "/api/v1/workspaces/"+ws+"/vars", "", 200)
	reader.do("POST", "/api/v1/workspaces/"+ws+"/vars", `{"key":"x","value":"y","category":"env"}`, 403)
	reader.do("DELETE", "/api/v1/vars/"+secretID, "", 403)

	// Another organization sees none of it.
	other := c.newOrg("other")
	other.do("GET", "/api/v1/workspaces/"+ws+"/vars", "", 404)
	other.do("GET", "/api/v1/vars/"+secretID, "", 404)
	other.do("PATCH", "/api/v1/vars/"+secretID, `{"value":"stolen"}`, 404)
	other.do("DELETE", "/api/v1/vars/"+secretID, "", 404)
	other.do("POST", "/api/v1/workspaces/"+ws+"/vars", `{"key":"x","value":"y","category":"env"}`, 404)

	c.do("DELETE", "/api/v1/vars/"+secretID, "", 204)
	c.do("DELETE", "/api/v1/vars/"+secretID, "", 404)
}

// Variable sets through the API: an admin creates one with workspaces
// attached, adds variables (sensitive ones never answered), attaches and
// detaches; others read; another organization gets 404.
func TestVariableSets(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	ws := c.workspace("acme", "net")
	set := c.do("POST", "/api/v1/organizations/acme/varsets", `{"name":"aws-creds","description":"shared","workspace_ids":["`+ws+`"]}`, 201)
	id := set["id"].(string)
	if ids := set["workspace_ids"].([]any); len(ids) != 1 || ids[0] != ws || set["global"] != false {
		t.Fatalf("set %v", set)
	}
	v := c.do("POST", "/api/v1/varsets/"+id+"/vars", `{"key":"AWS_SECRET_ACCESS_KEY","value":"set-secret-value","category":"env","sensitive":true}`, 201)
	if v["value"] != nil || v["variable_set_id"] != id || v["workspace_id"] != nil {
		t.Fatalf("set variable %v", v)
	}
	if list := c.do("GET", "/api/v1/varsets/"+id+"/vars", "", 200)["items"].([]any); len(list) != 1 || strings.Contains(fmt.Sprint(list), "set-secret-value") {
		t.Fatalf("set variables %v", list)
	}
	if sets := c.do("GET", "/api/v1/organizations/acme/varsets", "", 200)["items"].([]any); len(sets) != 1 {
		t.Fatalf("sets %v", sets)
	}
	c.do("POST", "/api/v1/organizations/acme/varsets", `{"name":"aws-creds"}`, 409)
	c.do("POST", "/api/v1/organizations/acme/varsets", `{"name":"bad name!"}`, 400)
	c.do("POST", "/api/v1/organizations/acme/varsets", `{"name":"other","workspace_ids":["`+"00000000-0000-0000-0000-000000000001"+`"]}`, 404)
	if sets := c.do("GET", "/api/v1/organizations/acme/varsets", "", 200)["items"].([]any); len(sets) != 1 {
		t.Fatalf("a refused set was kept: %v", sets)
	}

	// Writers use variables; only admins shape what every workspace gets.
	writer := c.as(c.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"w","role":"write"}`, 201)["token"].(string))
	writer.do("GET", "/api/v1/varsets/"+id, "", 200)
	writer.do("POST", "/api/v1/varsets/"+id+"/vars", `{"key":"X","value":"y","category":"env"}`, 403)
	writer.do("PATCH", "/api/v1/vars/"+v["id"].(string), `{"value":"z"}`, 403)
	writer.do("DELETE", "/api/v1/varsets/"+id, "", 403)

	if got := c.do("PATCH", "/api/v1/varsets/"+id, `{"global":true}`, 200); got["global"] != true {
		t.Fatalf("patched %v", got)
	}
	c.do("DELETE", "/api/v1/varsets/"+id+"/workspaces/"+ws, "", 204)
	c.do("DELETE", "/api/v1/varsets/"+id+"/workspaces/"+ws, "", 404)
	if got := c.do("POST", "/api/v1/varsets/"+id+"/workspaces", `{"workspace_id":"`+ws+`"}`, 200); len(got["workspace_ids"].([]any)) != 1 {
		t.Fatalf("attached %v", got)
	}

	other := c.newOrg("other")
	other.do("GET", "/api/v1/varsets/"+id, "", 404)
	other.do("GET", "/api/v1/organizations/acme/varsets", "", 404)
	other.do("POST", "/api/v1/varsets/"+id+"/vars", `{"key":"X","value":"y","category":"env"}`, 404)

	c.do("DELETE", "/api/v1/varsets/"+id, "", 204)
	c.do("GET", "/api/v1/vars/"+v["id"].(string), "", 404)
}
