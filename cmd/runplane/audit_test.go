package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/dbcheck"
)

// A scripted day, read back from the audit trail: every change is there,
// numbered without gaps, in the order it happened, naming who made it
// (the admin, a developer's token, a run's job) — token made, workspace
// created, run queued, policy overridden, run confirmed, state locked and
// written by the run's job, workspace locked by a developer and
// force-unlocked by the admin, state rolled back, token revoked. The JSON
// lines export says the same; the chain verifies, and a rewritten entry is
// found.
func TestAuditTrailOfAScriptedDay(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	rego, _ := json.Marshal(cidrPolicy)
	s.do("POST", "/api/v1/organizations/acme/policies", `{"name":"cidr","enforcement":"soft-mandatory","rego":`+string(rego)+`}`, 201)
	dev := *s
	devToken := s.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"dev","role":"write"}`, 201)
	dev.token = devToken["token"].(string)
	ws := s.workspace("network", false, map[string]string{"main.tf": networkTF})
	run := s.run(ws, `{}`)
	s.wait(run, time.Minute, "policy_override")
	s.do("POST", "/api/v1/runs/"+run+"/actions/override", "", 200)
	s.do("POST", "/api/v1/runs/"+run+"/actions/confirm", "", 200)
	s.wait(run, time.Minute, "applied")
	dev.do("POST", "/api/v1/workspaces/"+ws+"/actions/lock", `{"reason":"maintenance"}`, 200)
	s.do("POST", "/api/v1/workspaces/"+ws+"/actions/force-unlock", "", 200)
	version := s.do("GET", "/api/v1/workspaces/"+ws+"/state-versions", "", 200)["items"].([]any)[0].(map[string]any)["id"].(string)
	s.do("POST", "/api/v1/workspaces/"+ws+"/state-versions/"+version+"/rollback", "", 201)
	s.request("DELETE", "/api/v1/organizations/acme/tokens/"+devToken["id"].(string), nil, 204)

	page := s.do("GET", "/api/v1/organizations/acme/audit?limit=1000", "", 200)
	entries := page["items"].([]any)
	var actions []string
	byAction := map[string]map[string]any{}
	for i, item := range entries {
		e := item.(map[string]any)
		if e["seq"].(float64) != float64(i+1) {
			t.Fatalf("entry %d is numbered %v", i+1, e["seq"])
		}
		actions = append(actions, e["action"].(string))
		if _, seen := byAction[e["action"].(string)]; !seen {
			byAction[e["action"].(string)] = e
		}
	}
	want := []string{"token.created", "workspace.created", "run.created", "run.policy_overridden", "run.confirmed",
		"state.written", "workspace.locked", "workspace.force_unlocked", "state.rolled_back", "token.revoked"}
	at := 0
	for _, a := range actions {
		if at < len(want) && a == want[at] {
			at++
		}
	}
	if at != len(want) {
		t.Fatalf("the trail %v lacks %v in this order (found up to %q)", actions, want, want[at])
	}
	actor := func(action string) map[string]any { return byAction[action]["actor"].(map[string]any) }
	if a := actor("workspace.locked"); a["kind"] != "token" || a["token_id"] != devToken["id"] || a["source"] == "" {
		t.Fatalf("the lock was made by %v, want the developer's token %v", a, devToken["id"])
	}
	if a := actor("workspace.force_unlocked"); a["kind"] != "token" || a["token_id"] == devToken["id"] {
		t.Fatalf("the force-unlock was made by %v, want the admin", a)
	}
	if a := actor("state.written"); a["kind"] != "job" {
		t.Fatalf("the state was written by %v, want the run's job", a)
	}
	if a := actor("token.created"); a["kind"] != "site_admin" {
		t.Fatalf("the first token was made by %v, want the site admin", a)
	}
	if page["next_after"].(float64) != float64(len(entries)) {
		t.Fatalf("next_after %v after %d entries", page["next_after"], len(entries))
	}

	// The export: the same entries as JSON lines.
	req, _ := http.NewRequest("GET", s.base+"/api/v1/organizations/acme/audit", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var exported []string
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		exported = append(exported, e["action"].(string))
	}
	if !slices.Equal(exported, actions) {
		t.Fatalf("export %v, list %v", exported, actions)
	}
	// Filters: one action, then one object.
	if only := s.do("GET", "/api/v1/organizations/acme/audit?action=run.confirmed", "", 200)["items"].([]any); len(only) != 1 {
		t.Fatalf("filtered by action: %v", only)
	}
	for _, e := range s.do("GET", "/api/v1/organizations/acme/audit?object_id="+run, "", 200)["items"].([]any) {
		if id := e.(map[string]any)["object_id"]; id != run {
			t.Fatalf("filtered by the run, got an entry about %v", id)
		}
	}
	dev.do("GET", "/api/v1/organizations/acme/audit", "", 401) // revoked

	if v := s.do("GET", "/api/v1/organizations/acme/audit/verify", "", 200); v["ok"] != true || v["entries"].(float64) != float64(len(entries)) {
		t.Fatalf("verify: %v", v)
	}
	forced := byAction["workspace.force_unlocked"]["seq"].(float64)
	org := byAction["workspace.created"]["organization_id"].(string)
	if err := dbcheck.New(s.pool).CheckAuditTamper(context.Background(), dbcheck.CheckAuditTamperParams{
		OrganizationID: uuid.MustParse(org), Seq: int64(forced), Old: "force_unlocked", New: "unlocked",
	}); err != nil {
		t.Fatal(err)
	}
	v := s.do("GET", "/api/v1/organizations/acme/audit/verify", "", 200)
	if v["ok"] != false || v["broken_at"].(float64) != forced {
		t.Fatalf("a rewritten entry %v went unnoticed: %v", forced, v)
	}
	if strings.Contains(s.log.String(), "audit:") {
		t.Fatalf("the server logged audit failures:\n%s", s.log)
	}
}
