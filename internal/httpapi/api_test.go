package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/runplane/runplane/internal/httpapi"
	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/testkit/awstest"
	"github.com/runplane/runplane/internal/testkit/lambdatest"
	"github.com/runplane/runplane/internal/testkit/pgtest"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	awstest.Stop()
	os.Exit(code)
}

const adminToken = "site-admin-test-token"

// testTimeouts are the server's, with a read timeout short enough to watch.
var testTimeouts = httpapi.Timeouts{ReadHeader: time.Second, Read: 4 * time.Second, Idle: 5 * time.Second}

type client struct {
	t     *testing.T
	base  string
	token string
}

// do sends a request and decodes the JSON answer, failing on a wrong status.
func (c client) do(method, path, body string, want int) map[string]any {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if want == http.StatusNoContent {
		return nil
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		c.t.Fatalf("%s %s: content type %q", method, path, ct)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s %s: not JSON: %s", method, path, raw)
	}
	if want >= 400 {
		e, ok := out["error"].(map[string]any)
		if !ok || e["code"] == "" || e["message"] == "" {
			c.t.Fatalf("%s %s: error body not {error:{code,message}}: %s", method, path, raw)
		}
	}
	return out
}

func (c client) as(token string) client { c.token = token; return c }

// setup starts the API on a fresh database with one organization and returns
// a client holding that organization's admin token.
func setup(t *testing.T, orgName string) client {
	t.Helper()
	c, _ := setupWith(t, orgName, platform.Storage{DataDir: t.TempDir()})
	return c
}

// setupWith is setup on the given storage; it also returns the platform.
func setupWith(t *testing.T, orgName string, storage platform.Storage) (client, *platform.Platform) {
	t.Helper()
	p, base := serve(t, platform.Config{DatabaseURL: pgtest.URL(t), AdminToken: adminToken, Storage: storage})
	admin := client{t: t, base: base, token: adminToken}
	return admin.newOrg(orgName), p
}

// serve opens a platform on cfg and serves its API as the server does; it
// returns the platform and the API's base URL.
func serve(t *testing.T, cfg platform.Config) (*platform.Platform, string) {
	t.Helper()
	p, err := platform.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	srv := httptest.NewUnstartedServer(p.Handler)
	srv.Config = httpapi.NewServer(p.Handler, testTimeouts)
	srv.Start()
	t.Cleanup(srv.Close)
	return p, srv.URL
}

// workspace creates a workspace with a configuration, ready for runs.
func (c client) workspace(orgName, name string) string {
	c.t.Helper()
	id := c.do("POST", "/api/v1/organizations/"+orgName+"/workspaces", `{"name":"`+name+`"}`, 201)["id"].(string)
	c.do("POST", "/api/v1/workspaces/"+id+"/configuration-versions", string(lambdatest.Tarball(map[string]string{"main.tf": ""})), 201)
	return id
}

func (c client) newOrg(name string) client {
	c.t.Helper()
	admin := c.as(adminToken)
	admin.do("POST", "/api/v1/organizations", `{"name":"`+name+`"}`, 201)
	tok := admin.do("POST", "/api/v1/organizations/"+name+"/tokens", `{"description":"ci","role":"admin"}`, 201)
	return c.as(tok["token"].(string))
}

func TestWalkthroughSecondRunWaitsThenStarts(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	wsID := c.workspace("acme", "network")
	first := c.do("POST", "/api/v1/workspaces/"+wsID+"/runs", `{"message":"first"}`, 201)
	second := c.do("POST", "/api/v1/workspaces/"+wsID+"/runs", `{"message":"second"}`, 201)
	if first["status"] != "plan_queued" || second["status"] != "pending" || second["wait_reason"] != "workspace_busy" {
		t.Fatalf("first %v, second %v %v", first["status"], second["status"], second["wait_reason"])
	}
	got := c.do("GET", "/api/v1/workspaces/"+wsID, "", 200)
	if got["current_run_id"] != first["id"] {
		t.Fatalf("workspace held by %v, want %v", got["current_run_id"], first["id"])
	}
	c.do("POST", "/api/v1/runs/"+first["id"].(string)+"/actions/cancel", "", 200)
	after := c.do("GET", "/api/v1/runs/"+second["id"].(string), "", 200)
	if after["status"] != "plan_queued" {
		t.Fatalf("second run %v after the first was canceled", after["status"])
	}
	// Double click: the second cancel is refused and changes nothing.
	c.do("POST", "/api/v1/runs/"+first["id"].(string)+"/actions/cancel", "", 409)
	list := c.do("GET", "/api/v1/workspaces/"+wsID+"/runs?limit=1", "", 200)
	items := list["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["id"] != second["id"] || list["next_cursor"] == nil {
		t.Fatalf("first page: %v", list)
	}
	rest := c.do("GET", "/api/v1/workspaces/"+wsID+"/runs?cursor="+list["next_cursor"].(string), "", 200)
	if items := rest["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != first["id"] {
		t.Fatalf("second page: %v", rest)
	}
}

func TestLockBlocksAdmissionAndUnlockAdmits(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	wsID := c.workspace("acme", "db")
	c.do("POST", "/api/v1/workspaces/"+wsID+"/actions/lock", `{"reason":"maintenance"}`, 200)
	c.do("POST", "/api/v1/workspaces/"+wsID+"/actions/lock", `{"reason":"again"}`, 409)
	r := c.do("POST", "/api/v1/workspaces/"+wsID+"/runs", "", 201)
	if r["status"] != "pending" || r["wait_reason"] != "workspace_locked" {
		t.Fatalf("run on locked workspace: %v %v", r["status"], r["wait_reason"])
	}
	plan := c.do("POST", "/api/v1/workspaces/"+wsID+"/runs", `{"plan_only":true}`, 201)
	if plan["status"] != "plan_queued" {
		t.Fatalf("plan-only run waits on the lock: %v", plan["status"])
	}
	c.do("POST", "/api/v1/workspaces/"+wsID+"/actions/unlock", "", 200)
	if got := c.do("GET", "/api/v1/runs/"+r["id"].(string), "", 200); got["status"] != "plan_queued" {
		t.Fatalf("run after unlock: %v", got["status"])
	}
}

func TestOtherOrganizationGets404(t *testing.T) {
	t.Parallel()
	acme := setup(t, "acme")
	wsID := acme.workspace("acme", "secret")
	runID := acme.do("POST", "/api/v1/workspaces/"+wsID+"/runs", "", 201)["id"].(string)
	evil := acme.newOrg("evil")
	evil.do("GET", "/api/v1/workspaces/"+wsID, "", 404)
	evil.do("GET", "/api/v1/runs/"+runID, "", 404)
	evil.do("GET", "/api/v1/workspaces/"+wsID+"/runs", "", 404)
	evil.do("POST", "/api/v1/workspaces/"+wsID+"/runs", "", 404)
	evil.do("POST", "/api/v1/runs/"+runID+"/actions/cancel", "", 404)
	evil.do("POST", "/api/v1/workspaces/"+wsID+"/actions/lock", "", 404)
	evil.do("GET", "/api/v1/organizations/acme/workspaces", "", 404)
	evil.do("GET", "/api/v1/organizations/acme/workspaces/secret", "", 404)
	evil.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"x","role":"admin"}`, 404)
	if got := acme.do("GET", "/api/v1/runs/"+runID, "", 200); got["status"] != "plan_queued" {
		t.Fatalf("run changed by another organization: %v", got["status"])
	}
}

func TestRolesAndAuthentication(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	wsID := c.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"app"}`, 201)["id"].(string)
	reader := c.as(c.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"r","role":"read"}`, 201)["token"].(string))
	reader.do("GET", "/api/v1/workspaces/"+wsID, "", 200)
	reader.do("POST", "/api/v1/workspaces/"+wsID+"/runs", "", 403)
	reader.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"x"}`, 403)
	c.as("").do("GET", "/api/v1/workspaces/"+wsID, "", 401)
	c.as("rp_forged").do("GET", "/api/v1/workspaces/"+wsID, "", 401)
	c.do("POST", "/api/v1/organizations", `{"name":"nope"}`, 403)
	writer := c.as(c.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"w","role":"write"}`, 201)["token"].(string))
	c.do("POST", "/api/v1/workspaces/"+wsID+"/actions/lock", "", 200)
	writer.do("POST", "/api/v1/workspaces/"+wsID+"/actions/unlock", "", 409)
	writer.do("POST", "/api/v1/workspaces/"+wsID+"/actions/force-unlock", "", 403)
	c.do("POST", "/api/v1/workspaces/"+wsID+"/actions/force-unlock", "", 200)
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	c.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":`, 400)
	c.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"ok","colour":"red"}`, 400)
	c.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"../etc"}`, 400)
	c.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"a"} {"name":"b"}`, 400)
	c.do("POST", "/api/v1/organizations/acme/workspaces", "", 400)
	big := `{"name":"` + string(bytes.Repeat([]byte("x"), 2<<20)) + `"}`
	c.do("POST", "/api/v1/organizations/acme/workspaces", big, 413)
	if items := c.do("GET", "/api/v1/organizations/acme/workspaces", "", 200)["items"].([]any); len(items) != 0 {
		t.Fatalf("bad requests created workspaces: %v", items)
	}
	c.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"ok"}`, 201)
	c.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"ok"}`, 409)
	c.do("GET", "/api/v1/workspaces/not-a-uuid", "", 404)
	c.do("GET", "/api/v1/organizations/acme/workspaces?limit=0", "", 400)
	c.do("GET", "/api/v1/organizations/acme/workspaces?limit=1001", "", 400)
	c.do("POST", "/api/v1/runs/00000000-0000-0000-0000-000000000000/actions/explode", "", 404)
	c.do("POST", "/api/v1/organizations", `{"name":"x"}`, 403)
	c.as(adminToken).do("POST", "/api/v1/organizations", `{"name":"acme"}`, 409)
	c.as(adminToken).do("POST", "/api/v1/organizations", `{"name":"bad","weight":-1}`, 400)
}

// A malformed body is explained in JSON's terms — which field, what kind of
// value — never in the Go types behind the API; a known path asked with the
// wrong method answers 405 with Allow.
func TestErrorsExplainTheRequest(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	for body, want := range map[string]string{
		`[]`:                              "expected an object, got array",
		`{"name":5}`:                      `"name" must be a string, not number`,
		`{"name":"w","auto_apply":"yes"}`: `"auto_apply" must be true or false, not string`,
		`{"name":"w","remote_state_consumers":{}}`: `"remote_state_consumers" must be an array, not object`,
		`{"name":"w",}`: "at byte 13",
		`{"name":"w"`:   "ends in the middle of a JSON value",
		`{"nme":"w"}`:   `unknown field "nme"`,
	} {
		msg := c.do("POST", "/api/v1/organizations/acme/workspaces", body, 400)["error"].(map[string]any)["message"].(string)
		if !strings.Contains(msg, want) || strings.Contains(msg, "Go ") || strings.Contains(msg, "struct") {
			t.Errorf("%s: message %q, want it to say %q and nothing of Go", body, msg, want)
		}
	}
	req, _ := http.NewRequest("DELETE", c.base+"/api/v1/organizations/acme/workspaces", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD, POST" {
		t.Fatalf("DELETE on a list: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	c.do("DELETE", "/api/v1/organizations/acme/workspaces", "", 405)
	c.do("GET", "/api/v1/nothing-here", "", 404)
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	c.as("").do("GET", "/healthz", "", 200)
}

// The site admin sets an organization's share of the pool; the organization
// sees its limits and usage; nobody else may change them.
func TestOrganizationLimits(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	got := c.do("GET", "/api/v1/organizations/acme", "", 200)
	if got["max_concurrency"] != float64(80) || got["weight"] != float64(1) || got["usage"].(map[string]any)["running"] != float64(0) {
		t.Fatalf("defaults: %v", got)
	}
	c.do("PATCH", "/api/v1/organizations/acme", `{"max_concurrency":5}`, 403)
	admin := c.as(adminToken)
	set := admin.do("PATCH", "/api/v1/organizations/acme", `{"max_concurrency":5,"weight":3,"bucket_burst":10,"bucket_refill_per_second":0.5}`, 200)
	if set["max_concurrency"] != float64(5) || set["weight"] != float64(3) || set["bucket_burst"] != float64(10) || set["bucket_refill_per_second"] != 0.5 {
		t.Fatalf("after PATCH: %v", set)
	}
	admin.do("PATCH", "/api/v1/organizations/acme", `{"weight":0}`, 400)
	admin.do("PATCH", "/api/v1/organizations/acme", `{"bucket_refill_per_second":-1}`, 400)
	admin.do("PATCH", "/api/v1/organizations/nope", `{"weight":2}`, 404)
	if again := c.do("GET", "/api/v1/organizations/acme", "", 200); again["weight"] != float64(3) {
		t.Fatalf("a refused PATCH changed the weight: %v", again["weight"])
	}
	c.newOrg("globex").do("GET", "/api/v1/organizations/acme", "", 404)
}

// Trigger edges through the API: created with a warning about the state
// allow-list, a cycle refused with 409 naming it, listed, deleted.
func TestTriggerEdges(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	ws := map[string]string{}
	for _, n := range []string{"net", "app", "dns"} {
		ws[n] = c.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"`+n+`"}`, 201)["id"].(string)
	}
	e := c.do("POST", "/api/v1/workspaces/"+ws["app"]+"/triggers", `{"upstream_workspace_id":"`+ws["net"]+`"}`, 201)
	if e["on"] != "apply" || e["warning"] == nil {
		t.Fatalf("edge %v", e)
	}
	c.do("PATCH", "/api/v1/workspaces/"+ws["app"], `{"remote_state_consumers":["`+ws["dns"]+`"]}`, 200)
	if e := c.do("POST", "/api/v1/workspaces/"+ws["dns"]+"/triggers", `{"upstream_workspace_id":"`+ws["app"]+`","on":"outputs_changed"}`, 201); e["warning"] != nil {
		t.Fatalf("allowed consumer still warned: %v", e)
	}
	cyc := c.do("POST", "/api/v1/workspaces/"+ws["net"]+"/triggers", `{"upstream_workspace_id":"`+ws["dns"]+`"}`, 409)
	if msg := cyc["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "net → app → dns → net") {
		t.Fatalf("cycle message %q", msg)
	}
	c.do("POST", "/api/v1/workspaces/"+ws["net"]+"/triggers", `{"upstream_workspace_id":"`+ws["dns"]+`","on":"sometimes"}`, 400)
	if items := c.do("GET", "/api/v1/workspaces/"+ws["dns"]+"/triggers", "", 200)["items"].([]any); len(items) != 1 {
		t.Fatalf("dns upstreams %v", items)
	}
	c.newOrg("globex").do("POST", "/api/v1/workspaces/"+ws["app"]+"/triggers", `{"upstream_workspace_id":"`+ws["net"]+`"}`, 404)
	c.do("DELETE", "/api/v1/workspaces/"+ws["app"]+"/triggers/"+ws["net"], "", 204)
}

// A newcomer uploading a bare main.tf is told what a configuration is and
// how to make one, not only that the bytes are no gzip stream.
func TestAPlainFileUploadSaysToTarIt(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	id := c.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"w"}`, 201)["id"].(string)
	res := c.do("POST", "/api/v1/workspaces/"+id+"/configuration-versions", `resource "terraform_data" "x" {}`, 400)
	if msg, _ := json.Marshal(res["error"]); !strings.Contains(string(msg), ".tar.gz") || !strings.Contains(string(msg), "tar -czf") {
		t.Fatalf("refusal of a plain file: %s", msg)
	}
}

// Shapes a script can rely on: a workspace lists its consumers wherever
// it is answered (the list, a lock, none at all), and a run gives its
// status times in order beside the map.
func TestShapesAreTheSameEverywhere(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	a := c.workspace("acme", "a")
	b := c.workspace("acme", "b")
	c.do("PATCH", "/api/v1/workspaces/"+a, `{"remote_state_consumers":["`+b+`"]}`, 200)
	items := c.do("GET", "/api/v1/organizations/acme/workspaces", "", 200)["items"].([]any)
	for _, it := range items {
		ws := it.(map[string]any)
		consumers, ok := ws["remote_state_consumers"].([]any)
		if !ok || (ws["id"] == a && (len(consumers) != 1 || consumers[0] != b)) || (ws["id"] == b && len(consumers) != 0) {
			t.Fatalf("a listed workspace's consumers: %v", ws)
		}
	}
	if locked := c.do("POST", "/api/v1/workspaces/"+a+"/actions/lock", `{"reason":"x"}`, 200); fmt.Sprint(locked["remote_state_consumers"]) != "["+b+"]" {
		t.Fatalf("the lock answer's consumers: %v", locked["remote_state_consumers"])
	}
	r := c.do("POST", "/api/v1/workspaces/"+b+"/runs", `{}`, 201)
	r = c.do("POST", "/api/v1/runs/"+r["id"].(string)+"/actions/cancel", `{}`, 200)
	var got []string
	for _, e := range r["timeline"].([]any) {
		got = append(got, e.(map[string]any)["status"].(string))
	}
	if strings.Join(got, ",") != "pending,plan_queued,canceled" {
		t.Fatalf("timeline %v", got)
	}
}

// The site admin lists every organization, a page at a time; an
// organization's token sees only its own.
func TestOrganizationsAreListed(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	c.newOrg("beta")
	c.newOrg("gamma")
	admin := c.as(adminToken)
	first := admin.do("GET", "/api/v1/organizations?limit=2", "", 200)
	second := admin.do("GET", "/api/v1/organizations?limit=2&cursor="+first["next_cursor"].(string), "", 200)
	var names []string
	for _, page := range []map[string]any{first, second} {
		for _, o := range page["items"].([]any) {
			names = append(names, o.(map[string]any)["name"].(string))
		}
	}
	if strings.Join(names, ",") != "acme,beta,gamma" || second["next_cursor"] != nil {
		t.Fatalf("the site admin's pages: %v (%v)", names, second["next_cursor"])
	}
	own := c.do("GET", "/api/v1/organizations", "", 200)["items"].([]any)
	if len(own) != 1 || own[0].(map[string]any)["name"] != "acme" {
		t.Fatalf("an organization's token lists %v", own)
	}
}

// A script follows a run without polling: ?wait= answers as soon as the
// run reaches one of the statuses (or ends), or as it is at the timeout;
// a status that does not exist is a 400.
func TestARunReadCanWaitForAStatus(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	ws := c.workspace("acme", "net")
	id := c.do("POST", "/api/v1/workspaces/"+ws+"/runs", `{}`, 201)["id"].(string)
	start := time.Now()
	if r := c.do("GET", "/api/v1/runs/"+id+"?wait=applied&timeout=300ms", "", 200); r["status"] != "plan_queued" || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("a wait that times out: %v after %s", r["status"], time.Since(start))
	}
	done := make(chan map[string]any)
	go func() { done <- c.do("GET", "/api/v1/runs/"+id+"?wait=planned", "", 200) }()
	time.Sleep(300 * time.Millisecond)
	c.do("POST", "/api/v1/runs/"+id+"/actions/cancel", `{}`, 200)
	select {
	case r := <-done:
		if r["status"] != "canceled" {
			t.Fatalf("the waiting read answered %v", r["status"])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting read did not answer when the run ended")
	}
	c.do("GET", "/api/v1/runs/"+id+"?wait=finished", "", 400)
	c.do("GET", "/api/v1/runs/"+id+"?wait=planned&timeout=1h", "", 400)
}
