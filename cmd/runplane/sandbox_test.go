package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A tenant's configuration is hostile code: what its terraform can read
// (files, environment, other processes) must hold nothing of the platform's
// or another tenant's. It used to print the agent token from the data
// folder and could read every process's environment.
func TestRunIsSealedOffFromThePlatform(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	canary := "CANARY-" + strings.Repeat("x", 8)
	if err := os.WriteFile(filepath.Join(s.dataDir, "canary"), []byte(canary), 0o600); err != nil {
		t.Fatal(err)
	}
	probe := `
output "data_dir" {
  value = try(file("` + s.dataDir + `/canary"), "unreadable")
}
resource "terraform_data" "probe" {
  provisioner "local-exec" {
    command = "id; env; for f in /proc/[0-9]*/environ; do echo \"== $f\"; tr '\\000' '\\n' < $f; done; ls -la / ` + s.dataDir + ` /root; cat ` + s.dataDir + `/canary; true"
  }
}
`
	ws := s.workspace("probe", true, map[string]string{"main.tf": probe})
	r := s.run(ws, "")
	s.wait(r, 2*time.Minute, "applied")
	log := s.logs(r, "plan") + s.logs(r, "apply")
	for _, secret := range []string{canary, agentSecret, adminSecret, "DATABASE_URL", "RUNPLANE_", s.pool.Config().ConnString()} {
		if strings.Contains(log, secret) {
			t.Errorf("the run's log shows %q:\n%s", secret, log)
		}
	}
	if !strings.Contains(log, "uid=65534") {
		t.Errorf("terraform does not run as an unprivileged user:\n%s", log)
	}
	out := s.do("GET", "/api/v1/workspaces/"+ws+"/outputs", "", 200)["items"].([]any)
	if len(out) != 1 || out[0].(map[string]any)["value"] != "unreadable" {
		t.Errorf("the configuration read the data folder: %v", out)
	}
}
