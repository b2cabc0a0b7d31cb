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
