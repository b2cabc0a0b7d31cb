package httpapi_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// page requests a page with session cookie session (none if empty) and
// answers its status, Location and body; redirects are not followed.
func page(t *testing.T, base, method, path, session string, form url.Values, header ...string) (int, string, string, *http.Response) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if session != "" {
		req.AddCookie(&http.Cookie{Name: "runplane_session", Value: session})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(raw), resp
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// The pages' session and form rules, without a browser: sign-in sets an
// HttpOnly SameSite cookie (Secure behind TLS), a form without the
// session's CSRF token changes nothing, a revoked token signs out, and a
// page shows only what the token may see.
func TestPagesSessionsAndForms(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	hidden := c.workspace("acme", "hidden")

	if status, loc, _, _ := page(t, c.base, "GET", "/", "", nil); status != 303 || loc != "/signin" {
		t.Fatalf("GET / signed out: %d → %s", status, loc)
	}
	if status, _, body, _ := page(t, c.base, "POST", "/signin", "", url.Values{"token": {"rp_nope"}}); status != 401 || !strings.Contains(body, "not valid") {
		t.Fatalf("a bad token signs in: %d", status)
	}
	status, loc, _, resp := page(t, c.base, "POST", "/signin", "", url.Values{"token": {c.token}}, "X-Forwarded-Proto", "https")
	cookie := resp.Cookies()[0]
	if status != 303 || loc != "/app" || !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteStrictMode || cookie.Value != c.token {
		t.Fatalf("sign-in: %d → %s, cookie %+v", status, loc, cookie)
	}
	if _, _, _, resp := page(t, c.base, "POST", "/signin", "", url.Values{"token": {c.token}}); resp.Cookies()[0].Secure {
		t.Fatal("the cookie is Secure over plain HTTP, where the browser would drop it")
	}

	status, _, body, resp := page(t, c.base, "GET", "/app/orgs/acme", c.token, nil)
	if status != 200 || !strings.Contains(body, "hidden") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") ||
		strings.Contains(body, "<script>") || strings.Contains(body, " style=") {
		t.Fatalf("the organization's page: %d, CSP %q:\n%s", status, resp.Header.Get("Content-Security-Policy"), body)
	}
	token := csrfField.FindStringSubmatch(body)[1]
	if status, _, _, _ := page(t, c.base, "POST", "/app/orgs/acme/workspaces", c.token, url.Values{"name": {"forged"}}); status != 403 {
		t.Fatalf("a form without its CSRF token: %d", status)
	}
	if status, _, _, _ := page(t, c.base, "POST", "/app/orgs/acme/workspaces", c.token, url.Values{"name": {"forged"}, "csrf": {"x" + token}}); status != 403 {
		t.Fatalf("a form with another CSRF token: %d", status)
	}
	c.do("GET", "/api/v1/organizations/acme/workspaces/forged", "", 404)
	if status, loc, _, _ := page(t, c.base, "POST", "/app/orgs/acme/workspaces", c.token, url.Values{"name": {"made"}, "csrf": {token}}); status != 303 || !strings.HasPrefix(loc, "/app/workspaces/") {
		t.Fatalf("the form with its token: %d → %s", status, loc)
	}
	if status, _, _, _ := page(t, c.base, "POST", "/signout", c.token, nil); status != 403 {
		t.Fatalf("a sign-out without the CSRF token: %d", status)
	}

	// Who holds a lock, and why.
	c.do("POST", "/api/v1/workspaces/"+hidden+"/actions/lock", `{"reason":"maintenance"}`, 200)
	if _, _, body, _ := page(t, c.base, "GET", "/app/orgs/acme", c.token, nil); !strings.Contains(body, "locked by ci: maintenance") {
		t.Fatalf("the lock's holder is not named:\n%s", body)
	}

	// A team with no access to hidden: not in the list, not found by id.
	c.do("POST", "/api/v1/organizations/acme/teams", `{"name":"devs"}`, 201)
	devs := c.do("POST", "/api/v1/organizations/acme/teams/devs/tokens", `{"description":"x"}`, 201)
	if _, _, body, _ := page(t, c.base, "GET", "/app/orgs/acme", devs["token"].(string), nil); strings.Contains(body, ">hidden<") {
		t.Fatal("a team sees a workspace it has no access to")
	}
	if status, _, _, _ := page(t, c.base, "GET", "/app/workspaces/"+hidden, devs["token"].(string), nil); status != 404 {
		t.Fatalf("a team opens a workspace it has no access to: %d", status)
	}
	// Revoked: the next page signs out.
	c.do("DELETE", "/api/v1/organizations/acme/tokens/"+devs["id"].(string), "", 204)
	if status, loc, _, _ := page(t, c.base, "GET", "/app/orgs/acme", devs["token"].(string), nil); status != 303 || loc != "/signin" {
		t.Fatalf("a revoked token's page: %d → %s", status, loc)
	}
	// The site admin sees the pool.
	if status, _, body, _ := page(t, c.base, "GET", "/app", adminToken, nil); status != 200 || !strings.Contains(body, "<td>acme</td>") {
		t.Fatalf("the site admin's pool view: %d\n%s", status, body)
	}
}
