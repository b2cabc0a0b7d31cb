package httpapi_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/testkit/awstest"
	"github.com/runplane/runplane/internal/testkit/pgtest"
)

// storageCase is one storage configuration and the folders where whatever
// it stores ends up on disk.
type storageCase struct {
	name string
	open func(t *testing.T) (platform.Storage, []string)
}

var storages = []storageCase{
	{"embedded", func(t *testing.T) (platform.Storage, []string) {
		dir := t.TempDir()
		return platform.Storage{DataDir: dir}, []string{dir}
	}},
	{"s3+kms", func(t *testing.T) (platform.Storage, []string) {
		srv := awstest.Start(t)
		return platform.Storage{
			S3Bucket: srv.Bucket(t), S3Endpoint: srv.S3Endpoint, KMSKeyID: srv.Key(t), KMSEndpoint: srv.KMSEndpoint,
		}, []string{srv.S3Root, srv.S3Meta}
	}},
}

func requireTerraform(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatal("terraform is not on PATH: the state backend tests drive the real terraform binary (1.x)")
	}
	return bin
}

// tf runs terraform in its own folder with Runplane as the HTTP backend.
type tf struct {
	t   *testing.T
	bin string
	dir string
	env []string
}

func newTF(t *testing.T, bin, base, wsID, token, mainTF string) *tf {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(mainTF), 0o600); err != nil {
		t.Fatal(err)
	}
	cliConfig := filepath.Join(dir, ".terraformrc")
	if err := os.WriteFile(cliConfig, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := base + "/api/v1/workspaces/" + wsID + "/state"
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TF_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"TF_CLI_CONFIG_FILE="+cliConfig, "TF_IN_AUTOMATION=1", "TF_INPUT=0", "CHECKPOINT_DISABLE=1",
		"TF_HTTP_ADDRESS="+addr, "TF_HTTP_LOCK_ADDRESS="+addr, "TF_HTTP_UNLOCK_ADDRESS="+addr,
		"TF_HTTP_USERNAME=runplane", "TF_HTTP_PASSWORD="+token, "TF_HTTP_RETRY_MAX=0",
	)
	return &tf{t: t, bin: bin, dir: dir, env: env}
}

func (x *tf) with(kv ...string) *tf {
	y := *x
	y.env = append(append([]string(nil), x.env...), kv...)
	return &y
}

func (x *tf) run(args ...string) (string, error) {
	cmd := exec.Command(x.bin, args...)
	cmd.Dir, cmd.Env = x.dir, x.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (x *tf) must(args ...string) string {
	x.t.Helper()
	out, err := x.run(args...)
	if err != nil {
		x.t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

const networkTF = `
terraform {
  backend "http" {}
}

variable "db_password" {
  type      = string
  sensitive = true
}

resource "terraform_data" "net" {
  input = "10.0.0.0/16"
}

output "cidr" {
  value = terraform_data.net.output
}

output "db_password" {
  value     = var.db_password
  sensitive = true
}
`

func consumerTF(networkStateURL string) string {
	return fmt.Sprintf(`
terraform {
  backend "http" {}
}

data "terraform_remote_state" "network" {
  backend = "http"
  config = {
    address = %q
  }
}

output "network_cidr" {
  value = data.terraform_remote_state.network.outputs.cidr
}
`, networkStateURL)
}

// syncBuffer collects log output from every goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// captureLogs sends every log line, debug included, to a buffer until the test ends.
func captureLogs(t *testing.T) *syncBuffer {
	buf := &syncBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(io.MultiWriter(buf, os.Stderr), &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return buf
}

// Terraform itself, unchanged, keeps its state in Runplane: apply, state
// pull, a lock conflict naming the holder, force-unlock, and a consumer
// workspace reading outputs at plan time while a non-allowed one cannot.
// Afterwards the secret output is in no stored object, row or log line.
// Not parallel: it captures the process's logs.
func TestTerraformUsesRunplaneAsItsBackend(t *testing.T) {
	bin := requireTerraform(t)
	logs := captureLogs(t)
	for _, sc := range storages {
		t.Run(sc.name, func(t *testing.T) {
			storage, folders := sc.open(t)
			c, p := setupWith(t, "acme", storage)
			ctx := context.Background()
			ws := func(name string) string {
				return c.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"`+name+`"}`, 201)["id"].(string)
			}
			network, app, other := ws("network"), ws("app"), ws("other")
			c.do("PATCH", "/api/v1/workspaces/"+network, `{"remote_state_consumers":["`+app+`"]}`, 200)
			writer := c.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"ci","role":"write"}`, 201)["token"].(string)
			secret := "s3cr3t-" + uuid.NewString()

			net := newTF(t, bin, c.base, network, writer, networkTF).with("TF_VAR_db_password=" + secret)
			net.must("init", "-no-color")
			net.must("apply", "-auto-approve", "-no-color")
			pulled := net.must("state", "pull")
			if !strings.Contains(pulled, secret) {
				t.Fatal("state pull does not return the state Terraform wrote")
			}
			var st struct {
				Serial  int64  `json:"serial"`
				Lineage string `json:"lineage"`
			}
			if err := json.Unmarshal([]byte(pulled), &st); err != nil {
				t.Fatal(err)
			}
			cur := c.do("GET", "/api/v1/workspaces/"+network+"/current-state-version", "", 200)
			if cur["serial"] != float64(st.Serial) || cur["lineage"] != st.Lineage {
				t.Fatalf("current version %v, terraform has serial %d lineage %s", cur, st.Serial, st.Lineage)
			}
			outs := c.do("GET", "/api/v1/workspaces/"+network+"/outputs", "", 200)["items"].([]any)
			if len(outs) != 2 || outs[0].(map[string]any)["value"] != "10.0.0.0/16" ||
				outs[1].(map[string]any)["sensitive"] != true || outs[1].(map[string]any)["value"] != nil {
				t.Fatalf("outputs: %v", outs)
			}

			// Someone else holds the lock: terraform reports the holder's ID.
			c.do("LOCK", "/api/v1/workspaces/"+network+"/state",
				`{"ID":"alice-lock-42","Operation":"OperationTypeApply","Who":"alice@laptop","Version":"1.11.4","Created":"2026-11-23T10:00:00Z","Path":""}`, 200)
			out, err := net.run("apply", "-auto-approve", "-no-color", "-lock-timeout=0s")
			if err == nil || !strings.Contains(out, "alice-lock-42") {
				t.Fatalf("apply under someone else's lock: %v\n%s", err, out)
			}
			// force-unlock needs an admin: the write token is refused.
			if out, err := net.run("force-unlock", "-force", "alice-lock-42"); err == nil {
				t.Fatalf("force-unlock with a write token succeeded:\n%s", out)
			}
			net.with("TF_HTTP_PASSWORD="+c.token).must("force-unlock", "-force", "alice-lock-42")
			net.must("apply", "-auto-approve", "-no-color")

			// A consumer's job credential reads the network outputs at plan time.
			orgs := org.NewService(p.Pool, adminToken)
			principal, err := orgs.Authenticate(ctx, c.token)
			if err != nil {
				t.Fatal(err)
			}
			job := func(wsID string) string {
				id := uuid.MustParse(wsID)
				tok, err := orgs.CreateScopedToken(ctx, principal.OrgID, "job", org.RoleWrite, org.TokenScope{WorkspaceID: &id})
				if err != nil {
					t.Fatal(err)
				}
				return tok.Secret
			}
			networkURL := c.base + "/api/v1/workspaces/" + network + "/state"
			consumer := newTF(t, bin, c.base, app, job(app), consumerTF(networkURL))
			consumer.must("init", "-no-color")
			if plan := consumer.must("plan", "-no-color"); !strings.Contains(plan, `network_cidr = "10.0.0.0/16"`) {
				t.Fatalf("consumer plan does not show the network output:\n%s", plan)
			}
			outsider := newTF(t, bin, c.base, other, job(other), consumerTF(networkURL))
			outsider.must("init", "-no-color")
			if out, err := outsider.run("plan", "-no-color"); err == nil || strings.Contains(out, "10.0.0.0/16") || !strings.Contains(out, "HTTP remote state endpoint invalid auth") {
				t.Fatalf("a workspace off the allow-list read the state: %v\n%s", err, out)
			}
			// The job credential reaches nothing else of the API.
			c.as(job(app)).do("GET", "/api/v1/workspaces/"+app, "", 403)

			// At rest: the secret is in no stored file, no database row, no log line.
			scanned := 0
			for _, folder := range folders {
				_ = filepath.WalkDir(folder, func(path string, d fs.DirEntry, err error) error {
					if err != nil || d.IsDir() {
						return err
					}
					scanned++
					b, err := os.ReadFile(path)
					if err != nil {
						return err
					}
					if bytes.Contains(b, []byte(secret)) {
						t.Errorf("secret found in stored file %s", path)
					}
					return nil
				})
			}
			if versions := len(c.do("GET", "/api/v1/workspaces/"+network+"/state-versions", "", 200)["items"].([]any)); scanned < versions {
				t.Fatalf("scanned %d stored files for %d state versions; the check is looking in the wrong place", scanned, versions)
			}
			dump := string(pgtest.Dump(t, p.Pool))
			if strings.Contains(dump, secret) || strings.Contains(dump, hex.EncodeToString([]byte(secret))) {
				t.Error("secret found in the database dump")
			}
			if !strings.Contains(dump, "COPY public.state_versions") {
				t.Fatal("database dump holds no state_versions table; the check is looking at the wrong database")
			}
			if strings.Contains(logs.String(), secret) {
				t.Error("secret found in the server log")
			}
		})
	}
}

// Terraform locks with POST to …/state/lock and …/state/unlock when told
// to (TF_HTTP_LOCK_METHOD, as agents do, since API Gateway passes only
// standard verbs), and that lock is the same lock LOCK takes.
func TestTerraformLocksWithStandardVerbs(t *testing.T) {
	t.Parallel()
	bin := requireTerraform(t)
	c := setup(t, "acme")
	ws := c.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"net"}`, 201)["id"].(string)
	addr := c.base + "/api/v1/workspaces/" + ws + "/state"
	net := newTF(t, bin, c.base, ws, c.token, networkTF).with("TF_VAR_db_password=x",
		"TF_HTTP_LOCK_ADDRESS="+addr+"/lock", "TF_HTTP_UNLOCK_ADDRESS="+addr+"/unlock",
		"TF_HTTP_LOCK_METHOD=POST", "TF_HTTP_UNLOCK_METHOD=POST")
	net.must("init", "-no-color")
	net.must("apply", "-auto-approve", "-no-color")
	c.do("POST", "/api/v1/workspaces/"+ws+"/state/lock", `{"ID":"bob-lock-7","Operation":"OperationTypeApply","Who":"bob"}`, 200)
	if out, err := net.run("apply", "-auto-approve", "-no-color", "-lock-timeout=0s"); err == nil || !strings.Contains(out, "bob-lock-7") {
		t.Fatalf("apply under a lock taken with POST: %v\n%s", err, out)
	}
	c.do("POST", "/api/v1/workspaces/"+ws+"/state/unlock", `{"ID":"bob-lock-7"}`, 200)
	net.must("apply", "-auto-approve", "-no-color")
}

// Bad writes through the backend answer clear errors and change nothing.
func TestStateBackendRefusals(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	wsID := c.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"network"}`, 201)["id"].(string)
	stateURL := "/api/v1/workspaces/" + wsID + "/state"
	body := func(serial int, lineage string) string {
		return fmt.Sprintf(`{"version":4,"terraform_version":"1.11.4","serial":%d,"lineage":%q,"outputs":{},"resources":[]}`, serial, lineage)
	}
	c.do("POST", stateURL, body(1, "l1"), 409) // no lock
	c.do("LOCK", stateURL, `{"ID":"me"}`, 200)
	c.do("LOCK", stateURL, `{"ID":"me"}`, 200) // a retried lock is fine
	c.do("POST", stateURL+"?ID=me", body(3, "l1"), 200)
	first := c.do("GET", "/api/v1/workspaces/"+wsID+"/current-state-version", "", 200)
	for _, bad := range []struct {
		body   string
		lockID string
		status int
		code   string
	}{
		{body(3, "l1") + " ", "me", 409, "stale_serial"},
		{body(2, "l1"), "me", 409, "stale_serial"},
		{body(4, "l2"), "me", 409, "lineage_mismatch"},
		{`{"version":4`, "me", 400, "invalid_state"},
		{body(4, "l1"), "not-me", 423, ""},
		{body(4, "l1") + strings.Repeat(" ", 51_000_000), "me", 413, "body_too_large"},
	} {
		req, _ := http.NewRequest("POST", c.base+stateURL+"?ID="+bad.lockID, strings.NewReader(bad.body))
		req.SetBasicAuth("runplane", c.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != bad.status || !strings.Contains(string(raw), bad.code) {
			t.Errorf("%.40s with lock %s: %d %s, want %d %s", bad.body, bad.lockID, resp.StatusCode, raw, bad.status, bad.code)
		}
	}
	if msg := c.do("POST", stateURL+"?ID=me", body(2, "l1"), 409)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "2") || !strings.Contains(msg, "3") {
		t.Errorf("stale serial message names neither serial: %s", msg)
	}
	after := c.do("GET", "/api/v1/workspaces/"+wsID+"/current-state-version", "", 200)
	if after["id"] != first["id"] {
		t.Fatalf("a refused write moved the current version: %v -> %v", first["id"], after["id"])
	}
	if n := len(c.do("GET", "/api/v1/workspaces/"+wsID+"/state-versions", "", 200)["items"].([]any)); n != 1 {
		t.Fatalf("%d versions after refused writes, want 1", n)
	}
	// Another organization sees nothing.
	stranger := c.newOrg("globex")
	stranger.do("GET", stateURL, "", 404)
	stranger.do("GET", "/api/v1/state-versions/"+first["id"].(string), "", 404)
	stranger.do("LOCK", stateURL, `{"ID":"x"}`, 404)
	// Force-unlock (an UNLOCK without a body) is for admins only.
	reader := c.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"r","role":"write"}`, 201)["token"].(string)
	c.as(reader).do("UNLOCK", stateURL, "", 403)
	c.do("UNLOCK", stateURL, "", 200)
	c.do("UNLOCK", stateURL, "", 409)
}

// A run on a workspace whose state someone holds locked with terraform's
// own backend waits, saying why, instead of failing its plan on the lock;
// releasing the lock admits it at once, and so does an admin's
// force-unlock.
func TestRunsWaitForAStateLockHeldOutsideThem(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	ws := c.workspace("acme", "net")
	state := "/api/v1/workspaces/" + ws + "/state"
	c.do("LOCK", state, `{"ID":"laptop","Operation":"OperationTypeApply","Who":"me@laptop"}`, 200)
	r := c.do("POST", "/api/v1/workspaces/"+ws+"/runs", `{}`, 201)
	if r["status"] != "pending" || r["wait_reason"] != "state_locked" {
		t.Fatalf("a run under a held state lock: %v / %v", r["status"], r["wait_reason"])
	}
	c.do("UNLOCK", state, `{"ID":"laptop"}`, 200)
	if got := c.do("GET", "/api/v1/runs/"+r["id"].(string), "", 200); got["status"] != "plan_queued" {
		t.Fatalf("after the unlock: %v / %v", got["status"], got["wait_reason"])
	}
	c.do("POST", "/api/v1/runs/"+r["id"].(string)+"/actions/cancel", `{}`, 200)

	c.do("LOCK", state, `{"ID":"stale","Operation":"OperationTypeApply"}`, 200)
	second := c.do("POST", "/api/v1/workspaces/"+ws+"/runs", `{}`, 201)["id"].(string)
	c.do("UNLOCK", state, ``, 200) // force-unlock: no lock info, an admin token
	if got := c.do("GET", "/api/v1/runs/"+second, "", 200); got["status"] != "plan_queued" {
		t.Fatalf("after a force-unlock: %v / %v", got["status"], got["wait_reason"])
	}
}

// Raw state holds every sensitive value: a read token gets the outputs,
// the sensitive one masked, but neither the state nor a version's download
// (native and Terraform Cloud API), while a write token gets all three.
func TestReadTokensSeeOutputsNotRawState(t *testing.T) {
	t.Parallel()
	c := setup(t, "acme")
	wsID := c.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"db"}`, 201)["id"].(string)
	stateURL := "/api/v1/workspaces/" + wsID + "/state"
	c.do("LOCK", stateURL, `{"ID":"me"}`, 200)
	c.do("POST", stateURL+"?ID=me", `{"version":4,"terraform_version":"1.11.4","serial":1,"lineage":"l","outputs":{"host":{"value":"db.internal","type":"string"},"password":{"value":"hunter2","type":"string","sensitive":true}},"resources":[]}`, 200)
	c.do("UNLOCK", stateURL, `{"ID":"me"}`, 200)
	version := c.do("GET", "/api/v1/workspaces/"+wsID+"/current-state-version", "", 200)["id"].(string)
	token := func(role string) client {
		return c.as(c.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"`+role+`","role":"`+role+`"}`, 201)["token"].(string))
	}
	reader, writer := token("read"), token("write")
	status := func(cl client, path string) int {
		req, _ := http.NewRequest("GET", cl.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+cl.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && !strings.Contains(string(raw), "hunter2") && !strings.Contains(path, "outputs") {
			t.Fatalf("%s answered 200 without the state", path)
		}
		return resp.StatusCode
	}
	for _, path := range []string{stateURL, "/api/v1/state-versions/" + version + "/download", "/api/v2/state-versions/" + version + "/download"} {
		if got := status(reader, path); got != 403 {
			t.Errorf("read token, %s: %d, want 403", path, got)
		}
		if got := status(writer, path); got != 200 {
			t.Errorf("write token, %s: %d, want 200", path, got)
		}
	}
	for _, o := range reader.do("GET", "/api/v1/workspaces/"+wsID+"/outputs", "", 200)["items"].([]any) {
		if out := o.(map[string]any); out["name"] == "password" && out["value"] != nil {
			t.Fatalf("a read token sees a sensitive output: %v", out)
		}
	}
	req, _ := http.NewRequest("GET", c.base+"/api/v2/state-version-outputs/"+version+".password", nil)
	req.Header.Set("Authorization", "Bearer "+reader.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(raw), "hunter2") {
		t.Fatalf("a read token reading one sensitive output through the TFE API: %d %s", resp.StatusCode, raw)
	}
}
