package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Tokens are listed and described without their secrets, expire when
// asked, and a revoked one is refused on its very next request. Only the
// organization's admins (and the site admin) manage them; job credentials
// are not among them.
func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	made := c.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"ci","role":"write"}`, 201)
	ci := c.as(made["token"].(string))
	ci.do("GET", "/api/v1/organizations/acme/workspaces", "", 200)
	list := c.do("GET", "/api/v1/organizations/acme/tokens", "", 200)["items"].([]any)
	if len(list) != 2 { // the setup's admin token and ci
		t.Fatalf("tokens: %v", list)
	}
	for _, item := range list {
		if tok, ok := item.(map[string]any)["token"]; ok {
			t.Fatalf("a list shows a secret: %v", tok)
		}
	}
	id := made["id"].(string)
	if got := c.do("GET", "/api/v1/organizations/acme/tokens/"+id, "", 200); got["description"] != "ci" || got["role"] != "write" || got["created_by"] == nil {
		t.Fatalf("described: %v", got)
	}
	ci.do("GET", "/api/v1/organizations/acme/tokens", "", 403)
	ci.do("DELETE", "/api/v1/organizations/acme/tokens/"+id, "", 403)
	c.newOrg("globex").do("DELETE", "/api/v1/organizations/acme/tokens/"+id, "", 404)

	ws := c.workspace("acme", "net")
	reach := func(want int) {
		t.Helper()
		for _, r := range []struct {
			path  string
			basic bool
		}{{"/api/v1/organizations/acme/workspaces", false}, {"/api/v2/organizations/acme", false}, {"/api/v1/workspaces/" + ws + "/state", true}} {
			req, _ := http.NewRequest("GET", c.base+r.path, nil)
			if r.basic {
				req.SetBasicAuth("runplane", ci.token)
			} else {
				req.Header.Set("Authorization", "Bearer "+ci.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.StatusCode / 100; (want == 2) != (got == 2) || (want != 2 && resp.StatusCode != want) {
				t.Fatalf("GET %s with the token: %d, want %dxx", r.path, resp.StatusCode, want)
			}
		}
	}
	reach(2)
	c.do("DELETE", "/api/v1/organizations/acme/tokens/"+id, "", 204)
	// Refused at once by the native API, the Terraform Cloud API and the
	// state backend.
	reach(401)
	c.do("DELETE", "/api/v1/organizations/acme/tokens/"+id, "", 404)
	c.do("GET", "/api/v1/organizations/acme/tokens/"+id, "", 404)

	c.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"late","role":"read","expires_at":"2020-01-01T00:00:00Z"}`, 400)
	soon := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	short := c.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"short","role":"read","expires_at":"`+soon+`"}`, 201)
	if !strings.HasPrefix(short["expires_at"].(string), soon[:19]) {
		t.Fatalf("expires_at %v, want %s", short["expires_at"], soon)
	}
	brief := c.as(short["token"].(string))
	brief.do("GET", "/api/v1/organizations/acme/workspaces", "", 200)
	time.Sleep(1600 * time.Millisecond)
	brief.do("GET", "/api/v1/organizations/acme/workspaces", "", 401)
}
