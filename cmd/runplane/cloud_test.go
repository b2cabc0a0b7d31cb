package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// terraform's own cloud {} block against runplane server over HTTPS: the
// workflow a Terraform Cloud user runs from a terminal. init creates the
// workspace, plan streams the remote plan's log, apply -auto-approve runs
// it remotely, state list and output read the remote state, and a second
// workspace's remote run reads the first one's outputs.
func TestCloudBlockWorkflow(t *testing.T) {
	t.Parallel()
	certFile, keyFile, roots := selfSigned(t)
	s := startServerWith(t, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}, "terraform",
		"RUNPLANE_TLS_CERT_FILE="+certFile, "RUNPLANE_TLS_KEY_FILE="+keyFile)
	_, port, _ := strings.Cut(strings.TrimPrefix(s.base, "https://"), ":")
	host := "localhost:" + port
	home := t.TempDir()
	rc := filepath.Join(home, "terraform.rc")
	if err := os.WriteFile(rc, []byte(fmt.Sprintf("credentials %q {\n  token = %q\n}\n", host, s.token)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1",
		"TF_CLI_CONFIG_FILE=" + rc, "SSL_CERT_FILE=" + certFile}
	tf := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("terraform", append(args, "-no-color")...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("terraform %s: %v\n%s\nserver log:\n%s", strings.Join(args, " "), err, out, s.log)
		}
		return string(out)
	}
	cloud := func(workspace string) string {
		return fmt.Sprintf(`terraform {
  cloud {
    hostname     = %q
    organization = "acme"
    workspaces { name = %q }
  }
}
`, host, workspace)
	}
	net := t.TempDir()
	writeFile(t, filepath.Join(net, "main.tf"), cloud("net")+`
resource "terraform_data" "net" { input = "10.0.0.0/16" }
output "cidr" { value = terraform_data.net.output }
output "secret" {
  value     = "s3cr3t"
  sensitive = true
}
`)
	if out := tf(net, "init"); !strings.Contains(out, "HCP Terraform has been successfully initialized") && !strings.Contains(out, "has been successfully initialized") {
		t.Fatalf("init:\n%s", out)
	}
	out := tf(net, "plan")
	for _, want := range []string{"Running plan in", "$ terraform plan", "terraform_data.net will be created", "Plan: 1 to add, 0 to change, 0 to destroy."} {
		if !strings.Contains(out, want) {
			t.Fatalf("terraform plan does not show %q from the remote plan's log:\n%s", want, out)
		}
	}
	if out := tf(net, "apply", "-auto-approve"); !strings.Contains(out, "Apply complete! Resources: 1 added") {
		t.Fatalf("apply:\n%s", out)
	}
	if out := tf(net, "state", "list"); strings.TrimSpace(out) != "terraform_data.net" {
		t.Fatalf("state list: %q", out)
	}
	if out := tf(net, "output", "-raw", "cidr"); out != "10.0.0.0/16" {
		t.Fatalf("output cidr: %q", out)
	}
	if out := tf(net, "output", "-raw", "secret"); out != "s3cr3t" {
		t.Fatalf("output secret: %q", out)
	}

	// The second workspace reads the first one's state, as its consumer.
	netID := s.do("GET", "/api/v1/organizations/acme/workspaces/net", "", 200)["id"].(string)
	app := t.TempDir()
	writeFile(t, filepath.Join(app, "main.tf"), cloud("app")+remoteState("net", s.base, netID)+`
resource "terraform_data" "app" { input = "app in ${data.terraform_remote_state.net.outputs.cidr}" }
output "placed" { value = terraform_data.app.output }
`)
	tf(app, "init")
	appID := s.do("GET", "/api/v1/organizations/acme/workspaces/app", "", 200)["id"].(string)
	s.do("PATCH", "/api/v1/workspaces/"+netID, fmt.Sprintf(`{"remote_state_consumers":[%q]}`, appID), 200)
	tf(app, "apply", "-auto-approve")
	if out := tf(app, "output", "-raw", "placed"); out != "app in 10.0.0.0/16" {
		t.Fatalf("the second workspace's output: %q", out)
	}

	// A soft-mandatory policy fails the next plan: the CLI shows the
	// check's log and, with -auto-approve and an admin's token, overrides.
	rego, _ := json.Marshal(cidrPolicy)
	s.do("POST", "/api/v1/organizations/acme/policies", `{"name":"cidr","enforcement":"soft-mandatory","rego":`+string(rego)+`}`, 201)
	writeFile(t, filepath.Join(net, "main.tf"), cloud("net")+`
resource "terraform_data" "net" { input = "10.0.0.0/16" }
resource "terraform_data" "more" { input = "10.0.0.0/16" }
`)
	out = tf(net, "apply", "-auto-approve")
	for _, want := range []string{"Organization Policy Check:", "cidr (soft-mandatory): failed", "terraform_data.more uses the default CIDR", "Apply complete! Resources: 1 added"} {
		if !strings.Contains(out, want) {
			t.Fatalf("terraform apply over a soft-failed policy does not show %q:\n%s", want, out)
		}
	}

	// State commands from the terminal write through the workspace's lock.
	tf(net, "state", "rm", "terraform_data.more")
	if out := tf(net, "state", "list"); strings.TrimSpace(out) != "terraform_data.net" {
		t.Fatalf("state list after state rm: %q", out)
	}
	if ws := s.do("GET", "/api/v1/workspaces/"+netID, "", 200); ws["locked"] != false {
		t.Fatalf("state rm left the workspace locked: %v", ws)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
