package main

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
	"time"
)

// An organization's own agents: a workspace assigned to its agent pool
// waits for them (the server's agents, idle, leave its run queued), and an
// agent holding the pool's token, started apart from the server as an
// operator would, plans and applies it; the other workspaces keep the
// server's agents.
func TestAgentPoolRunsOnTheOrganizationsOwnAgents(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	pool := s.do("POST", "/api/v1/organizations/acme/agent-pools", `{"name":"private"}`, 201)
	files := map[string]string{"main.tf": `resource "terraform_data" "x" {
  input = "own"
}`}
	private := s.workspace("private", true, files)
	s.do("PATCH", "/api/v1/workspaces/"+private, `{"agent_pool_id":"`+pool["id"].(string)+`"}`, 200)
	public := s.workspace("public", true, files)
	r := s.run(private, "")
	if got := s.wait(s.run(public, ""), time.Minute, "applied", "errored"); got["status"] != "applied" {
		t.Fatalf("unpooled run %v: %v", got["status"], got["error"])
	}
	time.Sleep(time.Second)
	if got := s.do("GET", "/api/v1/runs/"+r, "", 200); got["status"] != "plan_queued" || got["wait_reason"] != "agent_pool" {
		t.Fatalf("the pooled run is %v (%v) without its pool's agents", got["status"], got["wait_reason"])
	}
	for range 2 { // one agent per phase
		agent := exec.Command(binary, "agent")
		agent.Env = append(os.Environ(), "RUNPLANE_URL="+s.base, "RUNPLANE_AGENT_TOKEN="+pool["token"].(string),
			"RUNPLANE_AGENT_NAME=own-agent", "RUNPLANE_AGENT_CLAIM_WAIT=30s")
		var log bytes.Buffer
		agent.Stdout, agent.Stderr = &log, &log
		if err := agent.Run(); err != nil {
			t.Fatalf("pool agent: %v\n%s\nserver log:\n%s", err, log.String(), s.log)
		}
	}
	got := s.wait(r, time.Minute, "applied", "errored")
	if got["status"] != "applied" {
		t.Fatalf("pooled run %v: %v", got["status"], got["error"])
	}
	for _, a := range got["attempts"].([]any) {
		if name := a.(map[string]any)["agent"]; name != "own-agent" {
			t.Fatalf("a phase of the pooled run ran on %v", name)
		}
	}
	// The pool is in use; a wrong token claims nothing.
	s.request("DELETE", "/api/v1/organizations/acme/agent-pools/"+pool["id"].(string), nil, 409)
	stranger := *s
	stranger.token = "rpagent_pool_not-a-pool"
	stranger.request("POST", "/api/agent/v1/claim", nil, 401)
}
