package main

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runplane/runplane/internal/pgembed"
)

// PostgreSQL stopped for longer than a lease in the middle of an apply:
// the agent keeps its job (the outage does not count against its lease),
// terraform finishes, its state reaches the server once the database is
// back, and the run is applied. It used to lose the lease, kill terraform
// and leave the workspace with no state for the resources it created.
func TestDatabaseOutageMidApplyLosesNothing(t *testing.T) {
	t.Parallel()
	tf, _ := filepath.Abs(mustLookPath(t, "terraform"))
	s, _ := startEmbeddedServer(t, tf)
	ws := s.workspace("network", true, map[string]string{"main.tf": `
resource "terraform_data" "first" {
  input = "one"
}
resource "terraform_data" "second" {
  input = terraform_data.first.output
  provisioner "local-exec" {
    command = "sleep 6"
  }
}
output "second" {
  value = terraform_data.second.output
}
`})
	db, err := pgembed.Running(filepath.Join(s.dataDir, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	r := s.run(ws, "")
	s.wait(r, time.Minute, "applying")
	time.Sleep(time.Second)
	if err := db.Pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(12 * time.Second) // six 2 s leases
	if err := db.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database did not come back\n%s", s.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := s.wait(r, 2*time.Minute, "applied", "errored")
	if got["status"] != "applied" {
		t.Fatalf("run %v after the outage: %v\n%s", got["status"], got["error"], s.log)
	}
	out := s.do("GET", "/api/v1/workspaces/"+ws+"/outputs", "", 200)["items"].([]any)
	if len(out) != 1 || out[0].(map[string]any)["value"] != "one" {
		t.Fatalf("outputs after the outage: %v", out)
	}
	if w := s.do("GET", "/api/v1/workspaces/"+ws, "", 200); w["locked"] != false {
		t.Fatalf("workspace after the outage: %v", w)
	}
}

func mustLookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not on PATH", name)
	}
	return p
}

// An apply whose agent stops answering (here: frozen past its lease) is not
// killed: the run errors and its workspace locks for it, and the terraform
// it started, still running, saves what it created with the job's
// credential. Nobody else may write meanwhile; force-unlock ends it.
func TestLostApplyStillSavesItsState(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	ws := s.workspace("network", true, map[string]string{"main.tf": `
resource "terraform_data" "first" {
  input = "one"
}
resource "terraform_data" "second" {
  input = "two"
  provisioner "local-exec" {
    command = "sleep 5"
  }
}
output "second" {
  value = terraform_data.second.output
}
`})
	r := s.run(ws, "")
	s.wait(r, time.Minute, "applying")
	agentPID := s.agentPID(r, 2)
	// Freeze the agent once terraform is in the middle of the apply.
	s.waitForLog(r, "apply", "terraform_data.second: Provisioning")
	if err := syscall.Kill(agentPID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(agentPID, syscall.SIGCONT)
	got := s.wait(r, 30*time.Second, "errored")
	if !strings.Contains(got["error"].(string), "lease expired") {
		t.Fatalf("error %q", got["error"])
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := s.do("GET", "/api/v1/workspaces/"+ws+"/outputs", "", 200)["items"].([]any)
		if len(out) == 1 && out[0].(map[string]any)["value"] == "two" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lost apply's state never arrived: outputs %v\n%s", out, s.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	w := s.do("GET", "/api/v1/workspaces/"+ws, "", 200)
	if w["locked"] != true || w["lock_reason"] != "apply interrupted: verify state" {
		t.Fatalf("workspace %v", w)
	}
	s.request("LOCK", "/api/v1/workspaces/"+ws+"/state", strings.NewReader(`{"ID":"operator"}`), 423)
	s.do("POST", "/api/v1/workspaces/"+ws+"/actions/force-unlock", "", 200)
	s.request("LOCK", "/api/v1/workspaces/"+ws+"/state", strings.NewReader(`{"ID":"operator"}`), 200)
}

// SIGTERM to an agent mid-apply (a container stop) interrupts terraform
// the way a cancel does: terraform stops at a safe point and saves what it
// created, and the run ends as failed, saying why, without a lock to clear.
func TestAgentSIGTERMMidApplySavesState(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	ws := s.workspace("network", true, map[string]string{"main.tf": `
resource "terraform_data" "first" {
  input = "one"
}
resource "terraform_data" "second" {
  input = terraform_data.first.output
  provisioner "local-exec" {
    command = "sleep 30"
  }
}
output "first" {
  value = terraform_data.first.output
}
`})
	r := s.run(ws, "")
	s.wait(r, time.Minute, "applying")
	pid := s.agentPID(r, 2)
	s.waitForLog(r, "apply", "terraform_data.second: Provisioning")
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	got := s.wait(r, 30*time.Second, "errored")
	if !strings.Contains(got["error"].(string), "SIGTERM") {
		t.Fatalf("error %q", got["error"])
	}
	if w := s.do("GET", "/api/v1/workspaces/"+ws, "", 200); w["locked"] != false {
		t.Fatalf("workspace %v", w)
	}
	out := s.do("GET", "/api/v1/workspaces/"+ws+"/outputs", "", 200)["items"].([]any)
	cur := s.do("GET", "/api/v1/workspaces/"+ws+"/current-state-version", "", 200)
	state := s.request("GET", "/api/v1/state-versions/"+cur["id"].(string)+"/download", nil, 200)
	if !strings.Contains(string(state), `"first"`) {
		t.Fatalf("the state terraform saved lacks the resource it created: outputs %v\n%s", out, state)
	}
}
