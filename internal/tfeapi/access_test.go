package tfeapi_test

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
)

// native calls the native API as token and decodes its answer.
func native(t *testing.T, base, token, method, path, body string, want int) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d", method, path, resp.StatusCode, want)
	}
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}

// Through go-tfe, as terraform's cloud backend and the tfe provider use
// it, a team's level on a workspace decides what a team token sees and
// may do: the workspace's permissions say so, outputs are masked below
// write, raw state and applies need write.
func TestGoTFETeamLevels(t *testing.T) {
	t.Parallel()
	c, base, owner := setupOrgToken(t)
	ctx := context.Background()
	ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("net")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Workspaces.Lock(ctx, ws.ID, tfe.WorkspaceLockOptions{}); err != nil {
		t.Fatal(err)
	}
	raw := []byte(`{"version":4,"terraform_version":"1.11.4","serial":1,"lineage":"l1","outputs":{"cidr":{"value":"10.0.0.0/16","type":"string"},"key":{"value":"s3cr3t","type":"string","sensitive":true}},"resources":[]}`)
	sv, err := c.StateVersions.Create(ctx, ws.ID, tfe.StateVersionCreateOptions{
		Serial: tfe.Int64(1), Lineage: tfe.String("l1"), MD5: tfe.String(fmt.Sprintf("%x", md5.Sum(raw))),
		State: tfe.String(base64.StdEncoding.EncodeToString(raw)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Workspaces.Unlock(ctx, ws.ID); err != nil {
		t.Fatal(err)
	}
	team := map[string]*tfe.Client{}
	for _, level := range []string{"read", "plan", "write", "admin"} {
		native(t, base, owner, "POST", "/api/v1/organizations/acme/teams", `{"name":"`+level+`"}`, 201)
		native(t, base, owner, "PUT", "/api/v1/workspaces/"+ws.ID+"/team-access/"+level, `{"access":"`+level+`"}`, 200)
		tok := native(t, base, owner, "POST", "/api/v1/organizations/acme/teams/"+level+"/tokens", `{"description":"ci"}`, 201)["token"].(string)
		team[level] = client(t, base, tok)
	}
	native(t, base, owner, "POST", "/api/v1/organizations/acme/teams", `{"name":"none"}`, 201)
	none := client(t, base, native(t, base, owner, "POST", "/api/v1/organizations/acme/teams/none/tokens", `{"description":"ci"}`, 201)["token"].(string))

	for level, want := range map[string]tfe.WorkspacePermissions{
		"read":  {},
		"plan":  {CanQueueRun: true},
		"write": {CanQueueRun: true, CanQueueApply: true, CanLock: true, CanUnlock: true, CanReadStateVersions: true},
		"admin": {CanQueueRun: true, CanQueueApply: true, CanLock: true, CanUnlock: true, CanForceUnlock: true, CanUpdate: true, CanReadStateVersions: true},
	} {
		got, err := team[level].Workspaces.ReadByID(ctx, ws.ID)
		if err != nil {
			t.Fatalf("%s reads the workspace: %v", level, err)
		}
		p := got.Permissions
		if p.CanQueueRun != want.CanQueueRun || p.CanQueueApply != want.CanQueueApply || p.CanLock != want.CanLock || p.CanForceUnlock != want.CanForceUnlock || p.CanUpdate != want.CanUpdate {
			t.Errorf("%s: permissions %+v, want %+v", level, *p, want)
		}
	}
	if _, err := none.Workspaces.ReadByID(ctx, ws.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Fatalf("a team without access reads the workspace: %v", err)
	}
	if list, err := none.Workspaces.List(ctx, "acme", nil); err != nil || len(list.Items) != 0 {
		t.Fatalf("a team without access lists %+v, %v", list, err)
	}

	// Outputs: listed with sensitive values withheld, as HCP Terraform
	// does; one read by its id (terraform output) shows the value from write.
	for level, wantKey := range map[string]any{"read": nil, "plan": nil, "write": "s3cr3t", "admin": "s3cr3t"} {
		outs, err := team[level].StateVersionOutputs.ReadCurrent(ctx, ws.ID)
		if err != nil {
			t.Fatalf("%s reads outputs: %v", level, err)
		}
		for _, o := range outs.Items {
			if o.Name == "cidr" && o.Value != "10.0.0.0/16" || o.Name == "key" && o.Value != nil {
				t.Errorf("%s lists %s as %v", level, o.Name, o.Value)
			}
			if o.Name != "key" {
				continue
			}
			if one, err := team[level].StateVersionOutputs.Read(ctx, o.ID); err != nil || one.Value != wantKey {
				t.Errorf("%s reads the sensitive output as %v (%v), want %v", level, one, err, wantKey)
			}
		}
	}
	// Raw state, and locking, need write.
	for level, ok := range map[string]bool{"read": false, "plan": false, "write": true} {
		got, err := team[level].StateVersions.Read(ctx, sv.ID)
		if err != nil {
			t.Fatalf("%s reads the version: %v", level, err)
		}
		if _, err := team[level].StateVersions.Download(ctx, got.DownloadURL); (err == nil) != ok {
			t.Errorf("%s downloads raw state: %v", level, err)
		}
		if _, err := team[level].Workspaces.Lock(ctx, ws.ID, tfe.WorkspaceLockOptions{}); (err == nil) != ok {
			t.Errorf("%s locks: %v", level, err)
		}
	}
	if _, err := team["write"].Workspaces.ForceUnlock(ctx, ws.ID); err == nil {
		t.Fatal("write force-unlocked")
	}
	if _, err := team["admin"].Workspaces.ForceUnlock(ctx, ws.ID); err != nil {
		t.Fatalf("admin force-unlocks: %v", err)
	}
	if _, err := team["write"].Workspaces.Update(ctx, "acme", "net", tfe.WorkspaceUpdateOptions{AutoApply: tfe.Bool(true)}); err == nil {
		t.Fatal("write changed the settings")
	}
	if _, err := team["admin"].Workspaces.Update(ctx, "acme", "net", tfe.WorkspaceUpdateOptions{AutoApply: tfe.Bool(true)}); err != nil {
		t.Fatalf("admin changes the settings: %v", err)
	}
}

// Teams and their workspace access through go-tfe, as the tfe provider
// manages them: created, listed, read, granted, changed, revoked, deleted;
// custom access is refused, and a grant takes effect on the team's token.
func TestGoTFETeams(t *testing.T) {
	t.Parallel()
	c, base, owner := setupOrgToken(t)
	ctx := context.Background()
	ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("net")})
	if err != nil {
		t.Fatal(err)
	}
	team, err := c.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("platform")})
	if err != nil || team.Name != "platform" {
		t.Fatalf("create: %+v, %v", team, err)
	}
	if list, err := c.Teams.List(ctx, "acme", nil); err != nil || len(list.Items) != 2 { // and owners
		t.Fatalf("list: %+v, %v", list, err)
	}
	if got, err := c.Teams.Read(ctx, team.ID); err != nil || got.Name != "platform" || got.OrganizationAccess.ManageWorkspaces {
		t.Fatalf("read: %+v, %v", got, err)
	}
	ci := client(t, base, native(t, base, owner, "POST", "/api/v1/organizations/acme/teams/platform/tokens", `{"description":"ci"}`, 201)["token"].(string))
	if _, err := ci.Workspaces.ReadByID(ctx, ws.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Fatalf("before a grant the team reads the workspace: %v", err)
	}
	if me, err := ci.Users.ReadCurrent(ctx); err != nil || me.Username != "api-team-platform" || me.ID != team.ID {
		t.Fatalf("the team token's account: %+v, %v", me, err)
	}
	if _, err := c.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessCustom), Team: team, Workspace: ws}); err == nil {
		t.Fatal("custom access was granted")
	}
	grant, err := c.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessPlan), Team: team, Workspace: ws})
	if err != nil || grant.Access != tfe.AccessPlan {
		t.Fatalf("add: %+v, %v", grant, err)
	}
	if got, err := ci.Workspaces.ReadByID(ctx, ws.ID); err != nil || !got.Permissions.CanQueueRun || got.Permissions.CanQueueApply {
		t.Fatalf("with plan the team reads %+v, %v", got, err)
	}
	if list, err := c.TeamAccess.List(ctx, &tfe.TeamAccessListOptions{WorkspaceID: ws.ID}); err != nil || len(list.Items) != 1 || list.Items[0].ID != grant.ID {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if got, err := c.TeamAccess.Update(ctx, grant.ID, tfe.TeamAccessUpdateOptions{Access: tfe.Access(tfe.AccessWrite)}); err != nil || got.Access != tfe.AccessWrite {
		t.Fatalf("update: %+v, %v", got, err)
	}
	if got, err := c.TeamAccess.Read(ctx, grant.ID); err != nil || got.Access != tfe.AccessWrite {
		t.Fatalf("read: %+v, %v", got, err)
	}
	if got, err := ci.Workspaces.ReadByID(ctx, ws.ID); err != nil || !got.Permissions.CanQueueApply {
		t.Fatalf("with write the team reads %+v, %v", got, err)
	}
	// The team itself may not change its own access: that needs admin.
	if _, err := ci.TeamAccess.Update(ctx, grant.ID, tfe.TeamAccessUpdateOptions{Access: tfe.Access(tfe.AccessAdmin)}); err == nil {
		t.Fatal("a write team made itself admin")
	}
	if err := c.TeamAccess.Remove(ctx, grant.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TeamAccess.Read(ctx, grant.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Fatalf("read after remove: %v", err)
	}
	if err := c.Teams.Delete(ctx, team.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ci.Workspaces.List(ctx, "acme", nil); err == nil {
		t.Fatal("a deleted team's token still works")
	}
}
