package tfeapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/testkit/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const adminToken = "tfe-site-admin-token"

// setup serves the platform and returns its base URL and a go-tfe client
// holding the site-admin token.
func setup(t *testing.T) (string, *tfe.Client) {
	t.Helper()
	p, err := platform.Open(context.Background(), platform.Config{
		DatabaseURL: pgtest.URL(t), AdminToken: adminToken, Storage: platform.Storage{DataDir: t.TempDir()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	srv := httptest.NewServer(p.Handler)
	t.Cleanup(srv.Close)
	return srv.URL, client(t, srv.URL, adminToken)
}

// setupOrg serves the platform with organization acme and returns a go-tfe
// client holding its organization token.
func setupOrg(t *testing.T) *tfe.Client {
	t.Helper()
	c, _, _ := setupOrgToken(t)
	return c
}

// setupOrgToken is setupOrg that also returns the base URL and the token.
func setupOrgToken(t *testing.T) (*tfe.Client, string, string) {
	t.Helper()
	base, admin := setup(t)
	ctx := context.Background()
	if _, err := admin.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@example.com")}); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.OrganizationTokens.Create(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if tok.CreatedBy == nil || tok.CreatedBy.User == nil || tok.CreatedBy.User.ID != "site-admin" {
		t.Fatalf("the token names no creator: %+v", tok.CreatedBy)
	}
	return client(t, base, tok.Token), base, tok.Token
}

func client(t *testing.T, base, token string) *tfe.Client {
	t.Helper()
	c, err := tfe.NewClient(&tfe.Config{Address: base, Token: token, RetryServerErrors: false})
	if err != nil {
		t.Fatalf("go-tfe: %v", err)
	}
	return c
}

// terraform finds the API through service discovery.
func TestServiceDiscovery(t *testing.T) {
	t.Parallel()
	base, _ := setup(t)
	resp, err := http.Get(base + "/.well-known/terraform.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	buf := make([]byte, 512)
	n, _ := resp.Body.Read(buf)
	body.Write(buf[:n])
	if resp.StatusCode != 200 || !strings.Contains(body.String(), `"tfe.v2":"/api/v2/"`) || !strings.Contains(body.String(), `"state.v2"`) {
		t.Fatalf("discovery: %d %s", resp.StatusCode, body.String())
	}
}

// go-tfe, as a script would use it: the site admin creates an
// organization and its token; with that token, workspaces are created,
// read by name and id, listed page by page, locked and unlocked; another
// organization's token sees none of it.
func TestGoTFEOrganizationsAndWorkspaces(t *testing.T) {
	t.Parallel()
	base, admin := setup(t)
	ctx := context.Background()
	if _, err := admin.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@example.com")}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@example.com")}); err == nil {
		t.Fatal("a second organization of one name was created")
	}
	tok, err := admin.OrganizationTokens.Create(ctx, "acme")
	if err != nil || tok.Token == "" {
		t.Fatalf("organization token: %+v %v", tok, err)
	}
	c := client(t, base, tok.Token)
	if o, err := c.Organizations.Read(ctx, "acme"); err != nil || o.Name != "acme" || !o.Permissions.CanCreateWorkspace {
		t.Fatalf("read organization: %+v %v", o, err)
	}
	if _, err := c.Users.ReadCurrent(ctx); err != nil {
		t.Fatalf("account details: %v", err)
	}

	ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("network"), AutoApply: tfe.Bool(true)})
	if err != nil || ws.Name != "network" || !ws.AutoApply || ws.ID == "" {
		t.Fatalf("create workspace: %+v %v", ws, err)
	}
	if _, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("network")}); err == nil {
		t.Fatal("a second workspace of one name was created")
	}
	byName, err := c.Workspaces.Read(ctx, "acme", "network")
	if err != nil || byName.ID != ws.ID || byName.Organization == nil || byName.Organization.Name != "acme" {
		t.Fatalf("read by name: %+v %v", byName, err)
	}
	if byID, err := c.Workspaces.ReadByID(ctx, ws.ID); err != nil || byID.Name != "network" {
		t.Fatalf("read by id: %+v %v", byID, err)
	}
	for _, name := range []string{"a", "b", "c", "d"} {
		if _, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for page := 1; page != 0; {
		list, err := c.Workspaces.List(ctx, "acme", &tfe.WorkspaceListOptions{ListOptions: tfe.ListOptions{PageNumber: page, PageSize: 2}})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range list.Items {
			names = append(names, w.Name)
		}
		if list.TotalCount != 5 {
			t.Fatalf("total count %d, want 5", list.TotalCount)
		}
		page = list.NextPage
	}
	if strings.Join(names, ",") != "a,b,c,d,network" {
		t.Fatalf("paged through %v", names)
	}

	locked, err := c.Workspaces.Lock(ctx, ws.ID, tfe.WorkspaceLockOptions{Reason: tfe.String("maintenance")})
	if err != nil || !locked.Locked {
		t.Fatalf("lock: %+v %v", locked, err)
	}
	if _, err := c.Workspaces.Lock(ctx, ws.ID, tfe.WorkspaceLockOptions{}); err == nil {
		t.Fatal("locked twice")
	}
	if unlocked, err := c.Workspaces.Unlock(ctx, ws.ID); err != nil || unlocked.Locked {
		t.Fatalf("unlock: %+v %v", unlocked, err)
	}

	if _, err := admin.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("other"), Email: tfe.String("o@example.com")}); err != nil {
		t.Fatal(err)
	}
	otherTok, err := admin.OrganizationTokens.Create(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	other := client(t, base, otherTok.Token)
	if _, err := other.Workspaces.ReadByID(ctx, ws.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Fatalf("another organization read the workspace: %v", err)
	}
	if _, err := other.Organizations.Read(ctx, "acme"); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Fatalf("another organization read acme: %v", err)
	}
	if _, err := client(t, base, "rp_not-a-token").Workspaces.ReadByID(ctx, ws.ID); !errors.Is(err, tfe.ErrUnauthorized) {
		t.Fatalf("a bad token: %v", err)
	}
}

// Bad input and what is not served yet answer JSON:API errors with the
// right status, and change nothing.
func TestErrorsAreJSONAPI(t *testing.T) {
	t.Parallel()
	base, admin := setup(t)
	ctx := context.Background()
	if _, err := admin.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@example.com")}); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.OrganizationTokens.Create(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		token, method, path, body string
		status                    int
	}{
		{tok.Token, "POST", "/api/v2/organizations/acme/workspaces", `{"data":`, 422},
		{tok.Token, "POST", "/api/v2/organizations/acme/workspaces", `{"data":{"type":"workspaces","attributes":{"name":"bad name!"}}}`, 422},
		{adminToken, "POST", "/api/v2/organizations", `{"data":{"type":"organizations","attributes":{"name":""}}}`, 422},
		{tok.Token, "POST", "/api/v2/organizations", `{"data":{"type":"organizations","attributes":{"name":"mine"}}}`, 403},
		{tok.Token, "GET", "/api/v2/workspaces/not-an-id", "", 404},
		{tok.Token, "GET", "/api/v2/organizations/acme/ssh-keys", "", 404},
		{tok.Token, "GET", "/api/v2/organizations/nobody", "", 404},
		{"", "GET", "/api/v2/organizations/acme", "", 401},
		{tok.Token, "POST", "/api/v2/runs", `{"data":{"type":"runs","attributes":{}}}`, 422},
		{tok.Token, "POST", "/api/v2/runs", `{"data":{"type":"runs","relationships":{"workspace":{"data":{"type":"workspaces","id":"nope"}}}}}`, 404},
		{tok.Token, "GET", "/api/v2/runs/00000000-0000-0000-0000-000000000000", "", 404},
		{tok.Token, "GET", "/api/v2/state-versions", "", 422},
		{tok.Token, "POST", "/api/v2/organizations/acme/varsets", `{"data":{"type":"varsets","attributes":{"name":"p","priority":true}}}`, 422},
		{"", "PUT", "/api/v2/uploads/00000000-0000-0000-0000-000000000000/00000000-0000-0000-0000-000000000000/1.x", "", 404},
		{"", "GET", "/api/v2/logs/plan/00000000-0000-0000-0000-000000000000/00000000-0000-0000-0000-000000000000/1.x", "", 404},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Content-Type", "application/vnd.api+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		body.Write(buf[:n])
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/vnd.api+json" || !strings.Contains(body.String(), `"errors"`) {
			t.Errorf("%s %s: %d %q %s; want %d and JSON:API errors", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), body.String(), c.status)
		}
	}
	if list, err := client(t, base, tok.Token).Workspaces.List(ctx, "acme", nil); err != nil || list.TotalCount != 0 {
		t.Fatalf("workspaces after bad requests: %+v %v", list, err)
	}
}

// Workspace variables through go-tfe: created, listed, read, changed and
// deleted; a sensitive value never comes back; another workspace's
// variable id is not found through this one.
func TestGoTFEVariables(t *testing.T) {
	t.Parallel()
	c := setupOrg(t)
	ctx := context.Background()
	ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("net")})
	if err != nil {
		t.Fatal(err)
	}
	other, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	region, err := c.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{
		Key: tfe.String("region"), Value: tfe.String("eu-west-1"), Category: tfe.Category(tfe.CategoryTerraform), Description: tfe.String("where"),
	})
	if err != nil || region.Value != "eu-west-1" || region.Category != tfe.CategoryTerraform || region.Workspace == nil || region.Workspace.ID != ws.ID {
		t.Fatalf("create: %+v %v", region, err)
	}
	secret, err := c.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{
		Key: tfe.String("AWS_SECRET_ACCESS_KEY"), Value: tfe.String("tfe-secret-value"), Category: tfe.Category(tfe.CategoryEnv), Sensitive: tfe.Bool(true),
	})
	if err != nil || secret.Value != "" || !secret.Sensitive {
		t.Fatalf("create sensitive: %+v %v", secret, err)
	}
	list, err := c.Variables.List(ctx, ws.ID, nil)
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	for _, v := range list.Items {
		if v.Value == "tfe-secret-value" {
			t.Fatal("a sensitive value came back")
		}
	}
	if got, err := c.Variables.Read(ctx, ws.ID, region.ID); err != nil || got.Key != "region" {
		t.Fatalf("read: %+v %v", got, err)
	}
	if _, err := c.Variables.Read(ctx, other.ID, region.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Fatalf("read through another workspace: %v", err)
	}
	updated, err := c.Variables.Update(ctx, ws.ID, region.ID, tfe.VariableUpdateOptions{Value: tfe.String("us-east-2"), HCL: tfe.Bool(false)})
	if err != nil || updated.Value != "us-east-2" {
		t.Fatalf("update: %+v %v", updated, err)
	}
	if _, err := c.Variables.Update(ctx, ws.ID, secret.ID, tfe.VariableUpdateOptions{Sensitive: tfe.Bool(false)}); err == nil {
		t.Fatal("a sensitive variable was made readable")
	}
	if err := c.Variables.Delete(ctx, ws.ID, region.ID); err != nil {
		t.Fatal(err)
	}
	if list, err := c.Variables.List(ctx, ws.ID, nil); err != nil || len(list.Items) != 1 {
		t.Fatalf("after delete: %+v %v", list, err)
	}
}

// Run triggers through go-tfe: created from a sourceable workspace, listed
// inbound and outbound, read and deleted; a cycle is refused.
func TestGoTFERunTriggers(t *testing.T) {
	t.Parallel()
	c := setupOrg(t)
	ctx := context.Background()
	network, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("network")})
	if err != nil {
		t.Fatal(err)
	}
	app, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := c.RunTriggers.Create(ctx, app.ID, tfe.RunTriggerCreateOptions{Sourceable: network})
	if err != nil || rt.SourceableName != "network" || rt.WorkspaceName != "app" {
		t.Fatalf("create: %+v %v", rt, err)
	}
	if _, err := c.RunTriggers.Create(ctx, network.ID, tfe.RunTriggerCreateOptions{Sourceable: app}); err == nil {
		t.Fatal("a cycle was accepted")
	}
	in, err := c.RunTriggers.List(ctx, app.ID, &tfe.RunTriggerListOptions{RunTriggerType: tfe.RunTriggerInbound})
	if err != nil || len(in.Items) != 1 || in.Items[0].ID != rt.ID {
		t.Fatalf("inbound: %+v %v", in, err)
	}
	out, err := c.RunTriggers.List(ctx, network.ID, &tfe.RunTriggerListOptions{RunTriggerType: tfe.RunTriggerOutbound})
	if err != nil || len(out.Items) != 1 || out.Items[0].WorkspaceName != "app" {
		t.Fatalf("outbound: %+v %v", out, err)
	}
	if got, err := c.RunTriggers.Read(ctx, rt.ID); err != nil || got.SourceableName != "network" {
		t.Fatalf("read: %+v %v", got, err)
	}
	if err := c.RunTriggers.Delete(ctx, rt.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RunTriggers.Read(ctx, rt.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Fatalf("read after delete: %v", err)
	}
}

// Variable sets through go-tfe: created for chosen workspaces, applied
// and removed, listed for a workspace, their variables written (a
// sensitive value never returned) and the set deleted with them.
func TestGoTFEVariableSets(t *testing.T) {
	t.Parallel()
	c := setupOrg(t)
	ctx := context.Background()
	a, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("a")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("b")})
	if err != nil {
		t.Fatal(err)
	}
	set, err := c.VariableSets.Create(ctx, "acme", &tfe.VariableSetCreateOptions{Name: tfe.String("aws"), Description: tfe.String("creds"), Global: tfe.Bool(false)})
	if err != nil || set.Global || len(set.Workspaces) != 0 {
		t.Fatalf("create: %+v, %v", set, err)
	}
	if err := c.VariableSets.ApplyToWorkspaces(ctx, set.ID, &tfe.VariableSetApplyToWorkspacesOptions{Workspaces: []*tfe.Workspace{a, b}}); err != nil {
		t.Fatal(err)
	}
	if err := c.VariableSets.RemoveFromWorkspaces(ctx, set.ID, &tfe.VariableSetRemoveFromWorkspacesOptions{Workspaces: []*tfe.Workspace{b}}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.VariableSets.Read(ctx, set.ID, nil); err != nil || len(got.Workspaces) != 1 || got.Workspaces[0].ID != a.ID {
		t.Fatalf("read: %+v, %v", got, err)
	}
	if forB, err := c.VariableSets.ListForWorkspace(ctx, b.ID, nil); err != nil || len(forB.Items) != 0 {
		t.Fatalf("sets of b: %+v, %v", forB, err)
	}
	set, err = c.VariableSets.Update(ctx, set.ID, &tfe.VariableSetUpdateOptions{Global: tfe.Bool(true)})
	if err != nil || !set.Global {
		t.Fatalf("update: %+v, %v", set, err)
	}
	if forB, err := c.VariableSets.ListForWorkspace(ctx, b.ID, nil); err != nil || len(forB.Items) != 1 {
		t.Fatalf("a global set applies to b: %+v, %v", forB, err)
	}
	key, err := c.VariableSetVariables.Create(ctx, set.ID, &tfe.VariableSetVariableCreateOptions{
		Key: tfe.String("AWS_SECRET_ACCESS_KEY"), Value: tfe.String("hunter2"), Category: tfe.Category(tfe.CategoryEnv), Sensitive: tfe.Bool(true),
	})
	if err != nil || key.Value != "" || !key.Sensitive {
		t.Fatalf("a sensitive variable: %+v, %v", key, err)
	}
	region, err := c.VariableSetVariables.Create(ctx, set.ID, &tfe.VariableSetVariableCreateOptions{
		Key: tfe.String("region"), Value: tfe.String("eu-west-1"), Category: tfe.Category(tfe.CategoryTerraform),
	})
	if err != nil {
		t.Fatal(err)
	}
	if region, err = c.VariableSetVariables.Update(ctx, set.ID, region.ID, &tfe.VariableSetVariableUpdateOptions{Value: tfe.String("us-east-1")}); err != nil || region.Value != "us-east-1" {
		t.Fatalf("update a variable: %+v, %v", region, err)
	}
	list, err := c.VariableSetVariables.List(ctx, set.ID, nil)
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("variables: %+v, %v", list, err)
	}
	for _, v := range list.Items {
		if v.Sensitive && v.Value != "" {
			t.Fatalf("a sensitive value came back: %+v", v)
		}
	}
	if got, err := c.VariableSetVariables.Read(ctx, set.ID, key.ID); err != nil || got.Value != "" {
		t.Fatalf("read a sensitive variable: %+v, %v", got, err)
	}
	if err := c.VariableSetVariables.Delete(ctx, set.ID, region.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.VariableSets.Create(ctx, "acme", &tfe.VariableSetCreateOptions{Name: tfe.String("aws"), Global: tfe.Bool(true)}); err == nil {
		t.Fatal("a second set named aws")
	}
	if err := c.VariableSets.Delete(ctx, set.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.VariableSets.Read(ctx, set.ID, nil); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Fatalf("a deleted set: %v", err)
	}
}

// As in Terraform Cloud an organization has one organization token: a new
// one revokes the one before, and deleting it revokes it, each at once.
func TestGoTFEOrganizationTokenIsReplacedAndRevoked(t *testing.T) {
	t.Parallel()
	first, base, _ := setupOrgToken(t)
	ctx := context.Background()
	if _, err := first.Workspaces.List(ctx, "acme", nil); err != nil {
		t.Fatal(err)
	}
	second, err := first.OrganizationTokens.Create(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Workspaces.List(ctx, "acme", nil); !errors.Is(err, tfe.ErrUnauthorized) {
		t.Fatalf("the replaced token still works: %v", err)
	}
	now := client(t, base, second.Token)
	if _, err := now.Workspaces.List(ctx, "acme", nil); err != nil {
		t.Fatal(err)
	}
	if err := now.OrganizationTokens.Delete(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := now.Workspaces.List(ctx, "acme", nil); !errors.Is(err, tfe.ErrUnauthorized) {
		t.Fatalf("the deleted token still works: %v", err)
	}
}
