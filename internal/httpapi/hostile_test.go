package httpapi_test

// Regression tests for hostile input: what an attacker with a token, or a
// broken client, sends. Each answer is a clear JSON error and changes nothing.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/testkit/pgtest"
)

// A declared Content-Length reserves nothing: memory follows the bytes
// that arrive. Twenty connections declaring 49,999,999 bytes and sending
// one used to take a gigabyte.
//
// Not parallel: the heap it measures is the test process's, and other tests
// send 50 MB bodies on purpose.
func TestDeclaredBodyLengthReservesNoMemory(t *testing.T) {
	c := setup(t, "hostile-body")
	ws := c.do("POST", "/api/v1/organizations/hostile-body/workspaces", `{"name":"w"}`, 201)["id"].(string)
	u, _ := url.Parse(c.base)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const conns = 20
	var wg sync.WaitGroup
	opened := make([]net.Conn, conns)
	for i := range conns {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		opened[i] = conn
		fmt.Fprintf(conn, "POST /api/v1/workspaces/%s/state?ID=x HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: 49999999\r\n\r\n{", ws, u.Host, c.token)
	}
	time.Sleep(2 * time.Second) // the handlers are now reading the bodies
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	grew := int64(during.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew by %d MB", grew>>20)
	if grew > 200<<20 {
		t.Errorf("heap grew by %d MB for %d half-sent bodies; it should not follow the declared length", grew>>20, conns)
	}
	// The read timeout cuts the half-sent bodies off.
	for _, conn := range opened {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = conn.SetReadDeadline(time.Now().Add(testTimeouts.Read + 5*time.Second))
			start := time.Now()
			_, _ = io.Copy(io.Discard, conn)
			if took := time.Since(start); took > testTimeouts.Read+3*time.Second {
				t.Errorf("a half-sent body held its connection for %s; the read timeout is %s", took, testTimeouts.Read)
			}
			conn.Close()
		}()
	}
	wg.Wait()
	c.do("GET", "/healthz", "", 200)
	if got := c.do("GET", "/api/v1/workspaces/"+ws+"/state-versions", "", 200)["items"].([]any); len(got) != 0 {
		t.Fatalf("versions %v", got)
	}
}

// A serial near int64's limit is refused, so one write cannot leave a
// workspace whose next apply or rollback overflows; every later write and
// a rollback still work.
func TestHugeSerialCannotBrickAWorkspace(t *testing.T) {
	t.Parallel()
	c := setup(t, "hostile-serial")
	ws := c.do("POST", "/api/v1/organizations/hostile-serial/workspaces", `{"name":"w"}`, 201)["id"].(string)
	stateURL := "/api/v1/workspaces/" + ws + "/state"
	body := func(serial string) string {
		return `{"version":4,"terraform_version":"1.11.4","serial":` + serial + `,"lineage":"l","outputs":{},"resources":[]}`
	}
	c.do("LOCK", stateURL, `{"ID":"me"}`, 200)
	c.do("POST", stateURL+"?ID=me", body("1"), 200)
	first := c.do("GET", "/api/v1/workspaces/"+ws+"/current-state-version", "", 200)["id"].(string)
	for _, serial := range []string{"9223372036854775807", "9223372036854775806", "4611686018427387904", "4294967298"} {
		e := c.do("POST", stateURL+"?ID=me", body(serial), 400)["error"].(map[string]any)
		if e["code"] != "invalid_state" {
			t.Errorf("serial %s: %v", serial, e)
		}
	}
	c.do("POST", stateURL+"?ID=me", body("4294967297"), 200) // the largest step
	c.do("POST", stateURL+"?ID=me", body("4294967298"), 200)
	c.do("UNLOCK", stateURL, `{"ID":"me"}`, 200)
	rolled := c.do("POST", "/api/v1/workspaces/"+ws+"/state-versions/"+first+"/rollback", "", 201)
	if rolled["serial"].(float64) != 4294967299 {
		t.Fatalf("rollback serial %v", rolled["serial"])
	}
	if n := len(c.do("GET", "/api/v1/workspaces/"+ws+"/state-versions", "", 200)["items"].([]any)); n != 4 {
		t.Fatalf("%d versions listed, want 4", n)
	}
}

// A NUL character cannot be stored in PostgreSQL text: every place a
// caller's text is kept answers 400 naming the field, and stores nothing.
func TestNULInTextIsRefused(t *testing.T) {
	t.Parallel()
	c := setup(t, "hostile-nul")
	ws := c.do("POST", "/api/v1/organizations/hostile-nul/workspaces", `{"name":"w"}`, 201)["id"].(string)
	for _, bad := range []struct{ path, body, field string }{
		{"/api/v1/organizations/hostile-nul/tokens", `{"description":"a\u0000b","role":"read"}`, "description"},
		{"/api/v1/workspaces/" + ws + "/runs", `{"message":"a\u0000b"}`, "message"},
		{"/api/v1/workspaces/" + ws + "/actions/lock", `{"reason":"a\u0000b"}`, "reason"},
		{"/api/v1/organizations/hostile-nul/policies", `{"name":"p","rego":"package x\u0000","enforcement":"advisory"}`, "rego"},
	} {
		e := c.do("POST", bad.path, bad.body, 400)["error"].(map[string]any)
		if e["code"] != "invalid_request" || !strings.Contains(e["message"].(string), bad.field) {
			t.Errorf("%s: %v", bad.path, e)
		}
	}
	if w := c.do("GET", "/api/v1/workspaces/"+ws, "", 200); w["locked"] != false {
		t.Fatalf("workspace locked by a refused request: %v", w)
	}
	if runs := c.do("GET", "/api/v1/workspaces/"+ws+"/runs", "", 200)["items"].([]any); len(runs) != 0 {
		t.Fatalf("runs created by a refused request: %v", runs)
	}
	c.do("LOCK", "/api/v1/workspaces/"+ws+"/state", `{"ID":"x","Info":"a\u0000b"}`, 400)
}

// While the database is unreachable every call answers 503 with
// Retry-After, a clear error a client retries on, not a 500.
func TestDatabaseDownAnswers503(t *testing.T) {
	t.Parallel()
	_, base := serve(t, platform.Config{
		DatabaseURL: "postgres://postgres@/none?host=" + t.TempDir() + "&port=5&sslmode=disable&connect_timeout=2",
		AdminToken:  adminToken, Storage: platform.Storage{DataDir: t.TempDir()},
	})
	for _, c := range []struct{ method, path, token, body string }{
		{"GET", "/api/v1/organizations/acme", adminToken, ""},
		{"POST", "/api/v1/organizations", adminToken, `{"name":"acme"}`},
		{"GET", "/api/v1/workspaces/" + uuid.NewString(), "rp_someone", ""},
		{"GET", "/healthz", "", ""},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(raw), `"unavailable"`) {
			t.Errorf("%s %s: %d Retry-After=%q %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Retry-After"), raw)
		}
	}
}

// A run on a workspace without configuration is refused at create, saying
// what to upload; a state write while someone else holds the workspace's
// lock is refused with Terraform's 423, and the locker's own write passes.
func TestRefusedAtTheDoor(t *testing.T) {
	t.Parallel()
	c := setup(t, "hostile-door")
	ws := c.do("POST", "/api/v1/organizations/hostile-door/workspaces", `{"name":"w"}`, 201)["id"].(string)
	e := c.do("POST", "/api/v1/workspaces/"+ws+"/runs", "", 409)["error"].(map[string]any)
	if e["code"] != "no_configuration" || !strings.Contains(e["message"].(string), ".tar.gz") {
		t.Fatalf("run without configuration: %v", e)
	}
	other := c.as(c.do("POST", "/api/v1/organizations/hostile-door/tokens", `{"description":"o","role":"write"}`, 201)["token"].(string))
	c.do("POST", "/api/v1/workspaces/"+ws+"/actions/lock", `{"reason":"migrating"}`, 200)
	stateURL := "/api/v1/workspaces/" + ws + "/state"
	body := `{"version":4,"terraform_version":"1.11.4","serial":1,"lineage":"l","outputs":{},"resources":[]}`
	locked := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
		req.SetBasicAuth("runplane", other.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusLocked || !strings.Contains(string(raw), "migrating") {
			t.Fatalf("%s %s by another token: %d %s", method, path, resp.StatusCode, raw)
		}
	}
	locked("LOCK", stateURL, `{"ID":"theirs"}`)
	c.do("LOCK", stateURL, `{"ID":"mine"}`, 200)
	c.do("POST", stateURL+"?ID=mine", body, 200)
	c.do("UNLOCK", stateURL, `{"ID":"mine"}`, 200)
	locked("LOCK", stateURL, `{"ID":"theirs"}`)
	if n := len(c.do("GET", "/api/v1/workspaces/"+ws+"/state-versions", "", 200)["items"].([]any)); n != 1 {
		t.Fatalf("%d versions, want the locker's one", n)
	}
}

// An agent name with a NUL is refused with 400 before any job is claimed.
func TestAgentNameWithNULIsRefused(t *testing.T) {
	t.Parallel()
	_, base := serve(t, platform.Config{
		DatabaseURL: pgtest.URL(t), AdminToken: adminToken, AgentToken: "rpagent_hostile", Storage: platform.Storage{DataDir: t.TempDir()},
	})
	agent := client{t: t, base: base, token: "rpagent_hostile"}
	e := agent.do("POST", "/api/agent/v1/claim", `{"agent":"a\u0000b"}`, 400)["error"].(map[string]any)
	if !strings.Contains(e["message"].(string), "agent") {
		t.Fatalf("error %v", e)
	}
}

// A finish's terraform time and log tail are the agent's word: a time out
// of range, a tail too long or one leaving a gap is refused with a JSON
// error and the job stays running; a good finish then goes through.
func TestHostileFinishIsRefused(t *testing.T) {
	t.Parallel()
	_, base := serve(t, platform.Config{
		DatabaseURL: pgtest.URL(t), AdminToken: adminToken, AgentToken: "rpagent_hostile", Storage: platform.Storage{DataDir: t.TempDir()},
	})
	c := client{t: t, base: base}.newOrg("hostile-finish")
	ws := c.workspace("hostile-finish", "w")
	runID := c.do("POST", "/api/v1/workspaces/"+ws+"/runs", `{"plan_only":true}`, 201)["id"].(string)
	agent := client{t: t, base: base, token: "rpagent_hostile"}
	job := agent.do("POST", "/api/agent/v1/claim", `{"agent":"a"}`, 200)
	finish := func(body string, want int) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/api/agent/v1/jobs/"+job["id"].(string)+"/finish", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer rpagent_hostile")
		req.Header.Set("X-Runplane-Lease", job["lease_token"].(string))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want >= 400 && !strings.Contains(string(raw), `"error"`)) {
			t.Fatalf("finish %.60s: %d %s, want %d", body, resp.StatusCode, raw, want)
		}
	}
	tooLong := fmt.Sprintf(`{"result":"succeeded","log":"%s"}`, strings.Repeat("A", 400<<10)) // base64 of 300 KiB
	for _, bad := range []struct {
		body string
		want int
	}{
		{`{"result":"succeeded","terraform_ms":-1}`, 400},
		{`{"result":"succeeded","terraform_ms":9223372036854775807}`, 400},
		{tooLong, 400},
		{`{"result":"succeeded","log":"bG9zdAo=","log_offset":100}`, 409},
		{`{"result":"succeeded","log":"bG9zdAo=","log_offset":-1}`, 400},
	} {
		finish(bad.body, bad.want)
		if st := c.do("GET", "/api/v1/runs/"+runID, "", 200)["status"]; st != "planning" {
			t.Fatalf("after a refused finish the run is %v", st)
		}
	}
	finish(`{"result":"succeeded","terraform_ms":5,"log":"b2sK","log_offset":0}`, 200)
	if st := c.do("GET", "/api/v1/runs/"+runID, "", 200)["status"]; st != "planned_and_finished" {
		t.Fatalf("after the finish the run is %v", st)
	}
}
