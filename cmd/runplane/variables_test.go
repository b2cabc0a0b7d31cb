package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/testkit/pgtest"
)

// A workspace's variables reach the run's real terraform — an input
// variable, an HCL one, environment variables, a global set's — and a
// sensitive value
// reaches nothing else: no API answer, no stored log, no file of the data
// folder (sealed state, plan JSON, archived logs), no database row.
func TestVariablesReachTerraformAndSecretsNothingElse(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	secret, token := "pw-"+uuid.NewString(), "tok-"+uuid.NewString()
	ws := s.workspace("vars", true, map[string]string{"main.tf": `
variable "password" {}
variable "tags" { type = map(string) }
resource "terraform_data" "pw" { input = var.password }
resource "terraform_data" "env" {
  provisioner "local-exec" { command = "echo region=$REGION token=$TOKEN shared=$SHARED" }
}
output "digest" { value = sha256(var.password) }
output "team" { value = var.tags["team"] }
`})
	vars := []string{
		fmt.Sprintf(`{"key":"password","value":%q,"category":"terraform","sensitive":true,"description":"db"}`, secret),
		`{"key":"tags","value":"{ team = \"net\" }","category":"terraform","hcl":true}`,
		`{"key":"REGION","value":"eu-test-1","category":"env"}`,
		fmt.Sprintf(`{"key":"TOKEN","value":%q,"category":"env","sensitive":true}`, token),
	}
	var answers []byte
	for _, body := range vars {
		answers = append(answers, s.request("POST", "/api/v1/workspaces/"+ws+"/vars", strings.NewReader(body), 201)...)
	}
	answers = append(answers, s.request("GET", "/api/v1/workspaces/"+ws+"/vars", nil, 200)...)
	// A global variable set's sensitive value reaches the run the same way.
	shared := "shared-" + uuid.NewString()
	set := s.do("POST", "/api/v1/organizations/acme/varsets", `{"name":"everywhere","global":true}`, 201)["id"].(string)
	answers = append(answers, s.request("POST", "/api/v1/varsets/"+set+"/vars",
		strings.NewReader(fmt.Sprintf(`{"key":"SHARED","value":%q,"category":"env","sensitive":true}`, shared)), 201)...)

	runID := s.run(ws, "")
	s.wait(runID, 2*time.Minute, "applied")
	out := s.do("GET", "/api/v1/workspaces/"+ws+"/outputs", "", 200)
	digest := sha256.Sum256([]byte(secret))
	if got := fmt.Sprint(out); !strings.Contains(got, hex.EncodeToString(digest[:])) || !strings.Contains(got, "net") {
		t.Fatalf("outputs %s: terraform did not get the variables\n%s", got, s.log)
	}
	plan, apply := s.logs(runID, "plan"), s.logs(runID, "apply")
	if !strings.Contains(apply, "region=eu-test-1 token=*** shared=***") {
		t.Fatalf("apply log: want the plain environment variable and the masked one:\n%s", apply)
	}
	if !strings.Contains(plan, "***") {
		t.Fatalf("plan log: want the password masked where terraform printed it:\n%s", plan)
	}

	// The Terraform Cloud API's answers about the same objects, and the
	// logs at its log-read URLs.
	for _, path := range []string{"/api/v2/workspaces/" + ws + "/vars", "/api/v2/varsets/" + set + "/relationships/vars",
		"/api/v2/runs/" + runID, "/api/v2/workspaces/" + ws + "/current-state-version-outputs"} {
		answers = append(answers, s.request("GET", path, nil, 200)...)
	}
	for _, phase := range []string{"plans", "applies"} {
		var doc struct {
			Data struct {
				Attributes struct {
					LogReadURL string `json:"log-read-url"`
				} `json:"attributes"`
			} `json:"data"`
		}
		if err := json.Unmarshal(s.request("GET", "/api/v2/"+phase+"/"+runID, nil, 200), &doc); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(doc.Data.Attributes.LogReadURL)
		if err != nil {
			t.Fatal(err)
		}
		log, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Contains(log, []byte("***")) {
			t.Fatalf("the %s log at its log-read URL: %q", phase, log)
		}
		answers = append(answers, log...)
	}

	// Everything that was stored or answered, searched for both secrets in
	// clear and as hex (a bytea column).
	haystacks := map[string][]byte{"API answers": answers, "logs": []byte(plan + apply), "database": pgtest.Dump(t, s.pool)}
	err := filepath.WalkDir(s.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		haystacks[path] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for where, hay := range haystacks {
		for _, needle := range []string{secret, token, shared} {
			if bytes.Contains(hay, []byte(needle)) || bytes.Contains(hay, []byte(hex.EncodeToString([]byte(needle)))) {
				t.Errorf("a sensitive value is in clear in %s", where)
			}
		}
	}
}
