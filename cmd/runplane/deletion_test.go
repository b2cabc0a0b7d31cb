package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/dbcheck"
)

// Deleting a workspace hides it and frees its name while everything it
// held stays restorable; it is refused while a run is unfinished or the
// workspace is locked. Restored, it has its state back; deleted again and
// left past the retention, the tick purges every row it owned, the run,
// its jobs, logs, plan artifacts, state, variables, triggers and
// consumer links included, so nothing of it can be read any more.
func TestWorkspaceDeletionIsRestorableThenPurged(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform", "RUNPLANE_WORKSPACE_RETENTION=8s")
	app := s.workspace("app", true, map[string]string{"main.tf": ``})
	ws := s.workspace("network", true, map[string]string{"main.tf": `
resource "terraform_data" "net" {
  input = "10.0.0.0/16"
}
output "cidr" {
  value = terraform_data.net.output
}
`})
	s.do("PATCH", "/api/v1/workspaces/"+ws, `{"remote_state_consumers":["`+app+`"]}`, 200)
	s.do("POST", "/api/v1/workspaces/"+app+"/triggers", `{"upstream_workspace_id":"`+ws+`"}`, 201)
	s.do("POST", "/api/v1/workspaces/"+ws+"/vars", `{"key":"region","value":"eu-west-1","category":"terraform"}`, 201)
	run := s.run(ws, "")
	// Refused while the run is unfinished, and while locked.
	if e := s.do("DELETE", "/api/v1/workspaces/"+ws, "", 409)["error"].(map[string]any); e["code"] != "workspace_busy" {
		t.Fatalf("delete during a run: %v", e)
	}
	if r := s.wait(run, 2*time.Minute, "applied", "errored"); r["status"] != "applied" {
		t.Fatalf("run %v: %v", r["status"], r["error"])
	}
	// The apply wrote the state and fanned out to the trigger's downstream;
	// let that run end too, or the upstream's events stay in its causes.
	waitFinished(t, s, app)
	s.do("POST", "/api/v1/workspaces/"+ws+"/actions/lock", `{"reason":"maintenance"}`, 200)
	if e := s.do("DELETE", "/api/v1/workspaces/"+ws, "", 409)["error"].(map[string]any); e["code"] != "workspace_locked" {
		t.Fatalf("delete while locked: %v", e)
	}
	s.do("POST", "/api/v1/workspaces/"+ws+"/actions/unlock", "", 200)

	deleted := s.do("DELETE", "/api/v1/workspaces/"+ws, "", 200)
	if deleted["name"] != "network" || deleted["purge_after"] == nil {
		t.Fatalf("deleted: %v", deleted)
	}
	s.do("GET", "/api/v1/workspaces/"+ws, "", 404)
	s.request("GET", "/api/v1/workspaces/"+ws+"/state", nil, 404)
	if triggers := s.do("GET", "/api/v1/workspaces/"+app+"/triggers", "", 200)["items"].([]any); len(triggers) != 0 {
		t.Fatalf("the deleted upstream still triggers: %v", triggers)
	}
	// Its name is free; restoring then waits for the name.
	second := s.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"network"}`, 201)["id"].(string)
	if e := s.do("POST", "/api/v1/organizations/acme/deleted-workspaces/"+ws+"/actions/restore", "", 409)["error"].(map[string]any); !strings.Contains(e["message"].(string), "network") {
		t.Fatalf("restore over a taken name: %v", e)
	}
	s.do("DELETE", "/api/v1/workspaces/"+second, "", 200)
	s.do("POST", "/api/v1/organizations/acme/deleted-workspaces/"+ws+"/actions/restore", "", 200)
	if outs := s.do("GET", "/api/v1/workspaces/"+ws+"/outputs", "", 200)["items"].([]any); len(outs) != 1 {
		t.Fatalf("outputs after restore: %v", outs)
	}

	versions := s.do("GET", "/api/v1/workspaces/"+ws+"/state-versions", "", 200)["items"].([]any)
	version := versions[0].(map[string]any)["id"].(string)
	s.do("DELETE", "/api/v1/workspaces/"+ws, "", 200)
	deadline := time.Now().Add(30 * time.Second)
	for {
		list := s.do("GET", "/api/v1/organizations/acme/deleted-workspaces", "", 200)["items"].([]any)
		if len(list) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never purged: %v\n%s", list, s.log)
		}
		time.Sleep(300 * time.Millisecond)
	}
	s.do("POST", "/api/v1/organizations/acme/deleted-workspaces/"+ws+"/actions/restore", "", 404)
	s.do("GET", "/api/v1/state-versions/"+version, "", 404)
	s.do("GET", "/api/v1/runs/"+run, "", 404)
	left, err := dbcheck.New(s.pool).CheckWorkspaceLeftovers(context.Background(), uuid.MustParse(ws))
	if err != nil || left != 0 {
		t.Fatalf("%d rows of the purged workspace left (%v)", left, err)
	}
	// The name is anyone's again; the downstream workspace is untouched.
	s.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"network"}`, 201)
	s.do("GET", "/api/v1/workspaces/"+app, "", 200)
}

// waitFinished waits until a workspace has a run and all its runs ended.
func waitFinished(t *testing.T, s *server, ws string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		runs := s.do("GET", "/api/v1/workspaces/"+ws+"/runs", "", 200)["items"].([]any)
		done := len(runs) > 0
		for _, r := range runs {
			switch r.(map[string]any)["status"] {
			case "applied", "planned_and_finished", "errored", "canceled", "force_canceled", "discarded":
			default:
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs of %s did not finish: %v", ws, runs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
