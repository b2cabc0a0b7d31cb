package httpapi_test

import (
	"encoding/json"
	"testing"
)

// Policies belong to organization admins; bad Rego is refused with what is
// wrong and changes nothing; another organization sees none of them.
func TestPolicyEndpoints(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	body := func(name, rego, enforcement string) string {
		b, _ := json.Marshal(map[string]string{"name": name, "rego": rego, "enforcement": enforcement})
		return string(b)
	}
	const ok = "package p\n\ndeny contains \"no\" if { input.x }"
	for _, bad := range []string{
		body("p", "package p\ndeny contains", "advisory"),
		body("p", "package p\nallow := true", "advisory"),
		body("p", ok, "strict"),
		body("", ok, "advisory"),
		`{"name":"p","rego":5}`,
	} {
		if msg := c.do("POST", "/api/v1/organizations/acme/policies", bad, 400)["error"].(map[string]any)["message"]; msg == "" {
			t.Errorf("%s: no message", bad)
		}
	}
	writer := c.as(c.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"w","role":"write"}`, 201)["token"].(string))
	writer.do("POST", "/api/v1/organizations/acme/policies", body("p", ok, "advisory"), 403)
	if items := c.do("GET", "/api/v1/organizations/acme/policies", "", 200)["items"].([]any); len(items) != 0 {
		t.Fatalf("refused requests created policies: %v", items)
	}

	created := c.do("POST", "/api/v1/organizations/acme/policies", body("p", ok, "soft-mandatory"), 201)
	c.do("POST", "/api/v1/organizations/acme/policies", body("p", ok, "advisory"), 409)
	if items := writer.do("GET", "/api/v1/organizations/acme/policies", "", 200)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["rego"] != ok {
		t.Fatalf("policies: %v", items)
	}
	stranger := c.newOrg("globex")
	stranger.do("GET", "/api/v1/organizations/acme/policies", "", 404)
	stranger.do("DELETE", "/api/v1/policies/"+created["id"].(string), "", 404)
	writer.do("DELETE", "/api/v1/policies/"+created["id"].(string), "", 403)
	c.do("DELETE", "/api/v1/policies/"+created["id"].(string), "", 204)
	c.do("DELETE", "/api/v1/policies/"+created["id"].(string), "", 404)
}
