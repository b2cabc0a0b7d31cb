package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runplane/runplane/internal/agentapi"
	"github.com/runplane/runplane/internal/testkit/awstest"
	"github.com/runplane/runplane/internal/testkit/lambdatest"
)

// bigState's resource holds a string of 24.5 MB, twice in its state (input
// and output): a state of 49 MB, just under the 50 MB limit. Sensitive,
// so that terraform does not print it into the log.
const bigState = `
variable "tag" {
  default = "TAG"
}
resource "terraform_data" "big" {
  input = sensitive(format("%24500000s", var.tag))
}
`

// Behind API Gateway a Lambda function takes and answers at most 6 MB, and
// states go to 50 MB. Real terraform, run by a real agent through its state
// proxy, writes a 49 MB state, reads it back in the next run's plan and
// writes its successor, all through the function's handler behind a
// gateway that enforces the limit, with S3 (versitygw) and KMS (moto):
// every large object goes straight to storage, sealed by the agent under a
// data key the function hands out, and no request or answer ever exceeds
// the limit. The same state read through the API without the agent's
// proxy is refused by the gateway, which is why the path exists.
func TestLargeStateWithinTheLambdaLimits(t *testing.T) {
	terraform, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatal("terraform is not on PATH; this test runs the real binary (make setup installs it)")
	}
	srv := awstest.Start(t)
	const agentToken = "rpagent_large-state-test"
	p := lambdatest.Open(t, map[string]string{
		"RUNPLANE_AGENT_TOKEN": agentToken, "RUNPLANE_S3_BUCKET": srv.Bucket(t), "RUNPLANE_S3_ENDPOINT": srv.S3Endpoint,
		"RUNPLANE_KMS_KEY_ID": srv.Key(t), "RUNPLANE_KMS_ENDPOINT": srv.KMSEndpoint,
	})
	gw := lambdatest.NewGateway(t, p)
	agent := filepath.Join(t.TempDir(), "runplane-agent")
	if out, err := exec.Command("go", "build", "-o", agent, "github.com/runplane/runplane/cmd/runplane-agent").CombinedOutput(); err != nil {
		t.Fatalf("building the agent: %v\n%s", err, out)
	}
	api := func(method, path, token, body string) map[string]any {
		t.Helper()
		return lambdatest.Call(t, p, method, path, token, body)
	}
	api("POST", "/api/v1/organizations", lambdatest.AdminToken, `{"name":"big"}`)
	token := api("POST", "/api/v1/organizations/big/tokens", lambdatest.AdminToken, `{"description":"t","role":"admin"}`)["token"].(string)
	ws := api("POST", "/api/v1/organizations/big/workspaces", token, `{"name":"net","auto_apply":true}`)["id"].(string)
	// One agent per phase, as on AWS: each claims a job through the
	// gateway, runs it and exits.
	phase := func() {
		t.Helper()
		cmd := exec.Command(agent)
		cmd.Env = append(os.Environ(), "RUNPLANE_URL="+gw.URL, "RUNPLANE_AGENT_TOKEN="+agentToken,
			"RUNPLANE_TERRAFORM="+terraform, "RUNPLANE_AGENT_CLAIM_WAIT=30s")
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Run(); err != nil {
			t.Fatalf("agent: %v\n%s", err, log.String())
		}
	}
	apply := func(tag string) map[string]any {
		t.Helper()
		api("POST", "/api/v1/workspaces/"+ws+"/configuration-versions", token,
			string(lambdatest.Tarball(map[string]string{"main.tf": strings.Replace(bigState, "TAG", tag, 1)})))
		run := api("POST", "/api/v1/workspaces/"+ws+"/runs", token, `{}`)["id"].(string)
		phase()
		phase()
		got := api("GET", "/api/v1/runs/"+run, token, "")
		for _, a := range got["attempts"].([]any) {
			a := a.(map[string]any)
			claimed, _ := time.Parse(time.RFC3339Nano, a["claimed_at"].(string))
			finished, _ := time.Parse(time.RFC3339Nano, a["finished_at"].(string))
			t.Logf("run %s, %s: %.1f s claimed to finished, terraform %.1f s", tag, a["phase"], finished.Sub(claimed).Seconds(), a["terraform_ms"].(float64)/1000)
		}
		if got["status"] != "applied" {
			t.Fatalf("run %s is %v: %v", tag, got["status"], got["error"])
		}
		return got
	}
	apply("one")
	// The second plan reads the 49 MB state, the second apply replaces it.
	apply("two")

	versions := api("GET", "/api/v1/workspaces/"+ws+"/state-versions", token, "")["items"].([]any)
	if len(versions) != 2 {
		t.Fatalf("%d state versions, want 2", len(versions))
	}
	current := versions[0].(map[string]any)
	if size := current["size"].(float64); size < 48e6 {
		t.Fatalf("the state is %.0f bytes; the test means one above 48 MB", size)
	}
	largestEvent, largestAnswer, refused := gw.Figures()
	t.Logf("state %.1f MB; largest event %.2f MB, largest answer %.2f MB (limit %d MB)",
		current["size"].(float64)/1e6, float64(largestEvent)/1e6, float64(largestAnswer)/1e6, lambdatest.PayloadLimit>>20)
	if len(refused) > 0 {
		t.Fatalf("requests beyond the Lambda limit: %v", refused)
	}

	// A client that accepts a grant reads the state straight from storage;
	// it is the successor run two wrote, as stored.
	state := fetchState(t, gw.URL+"/api/v1/workspaces/"+ws+"/state", token, true)
	var grant agentapi.ObjectDownload
	if err := json.Unmarshal(state, &grant); err != nil {
		t.Fatalf("grant: %v: %.200s", err, state)
	}
	data, err := download(grant)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != current["sha256"] || !bytes.Contains(data, []byte(` two"`)) {
		t.Fatalf("the state read directly (%d bytes) is not run two's version %v", len(data), current["sha256"])
	}
	// One that does not is refused by the gateway: its answer cannot pass.
	if got := fetchState(t, gw.URL+"/api/v1/workspaces/"+ws+"/state", token, false); len(got) > 1<<20 {
		t.Fatalf("a %d-byte state passed the gateway", len(got))
	}
	if _, _, refused := gw.Figures(); len(refused) != 1 {
		t.Fatalf("the plain read was not refused: %v", refused)
	}
}

// fetchState GETs a workspace's state through the gateway as terraform's
// backend would, accepting a grant or not.
func fetchState(t *testing.T, url, token string, grant bool) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.SetBasicAuth("runplane", token)
	if grant {
		req.Header.Set("Accept", agentapi.ObjectDownloadType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if want := map[bool]int{true: 200, false: 502}[grant]; resp.StatusCode != want {
		t.Fatalf("GET state (grant %v): %d, want %d: %.300s", grant, resp.StatusCode, want, body)
	}
	return body
}

// download fetches a granted object from storage and opens it.
func download(g agentapi.ObjectDownload) ([]byte, error) {
	req, err := http.NewRequestWithContext(context.Background(), g.Method, g.URL, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range g.Header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sealed, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return g.Open(sealed)
}
