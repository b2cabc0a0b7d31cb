package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/runplane/runplane/internal/identity"
	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/testkit/pgtest"
)

// Each claimed job carries a workload identity token that a standard OIDC
// library (go-oidc) verifies against the published discovery document and
// JWKS, with the claims a cloud trust policy matches on. A token names its
// one workspace: a policy admitting one workspace's runs refuses another's
// token, and a token edited to name another workspace fails its signature.
// Tokens signed before a key rotation keep verifying.
func TestWorkloadIdentityTokensVerifyWithOIDC(t *testing.T) {
	t.Parallel()
	const agentToken = "rpagent_identity-test"
	_, base := serve(t, platform.Config{DatabaseURL: pgtest.URL(t), AdminToken: adminToken, AgentToken: agentToken, Storage: platform.Storage{DataDir: t.TempDir()}})
	c := client{t: t, base: base, token: adminToken}.newOrg("acme")
	network, app := c.workspace("acme", "network"), c.workspace("acme", "app")
	c.do("POST", "/api/v1/workspaces/"+network+"/runs", `{}`, 201)
	c.do("POST", "/api/v1/workspaces/"+app+"/runs", `{}`, 201)
	agent := c.as(agentToken)
	tokens := map[string]string{} // workspace id → token
	for range 2 {
		job := agent.do("POST", "/api/agent/v1/claim", `{"agent":"a"}`, 200)
		tokens[job["workspace_id"].(string)] = job["workload_identity_token"].(string)
	}

	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, base)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: identity.DefaultAudience})
	verify := func(raw string) (identity.Claims, error) {
		var claims identity.Claims
		tok, err := verifier.Verify(ctx, raw)
		if err == nil {
			err = tok.Claims(&claims)
		}
		return claims, err
	}
	// A trust policy for the network workspace's plans.
	trusts := func(claims identity.Claims) bool {
		return claims.Subject == "organization:acme:workspace:network:run_phase:plan"
	}
	got, err := verify(tokens[network])
	if err != nil {
		t.Fatal(err)
	}
	if !trusts(got) || got.WorkspaceID != network || got.WorkspaceName != "network" || got.OrganizationName != "acme" || got.RunPhase != "plan" || got.RunID == "" {
		t.Fatalf("claims %+v", got)
	}
	other, err := verify(tokens[app])
	if err != nil {
		t.Fatal(err)
	}
	if trusts(other) {
		t.Fatalf("the app workspace's token passes as the network's: %s", other.Subject)
	}
	// Edit the app token's payload to name the network workspace.
	parts := strings.Split(tokens[app], ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.ReplaceAll(string(payload), "workspace:app:", "workspace:network:")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
	if _, err := verify(strings.Join(parts, ".")); err == nil {
		t.Fatal("a token edited to name another workspace verified")
	}
	if _, err := provider.Verifier(&oidc.Config{ClientID: "sts.amazonaws.com"}).Verify(ctx, tokens[network]); err == nil {
		t.Fatal("a token verified for another audience")
	}

	// Rotation: a new key signs, the old one stays published.
	c.as(adminToken).do("POST", "/api/v1/admin/signing-keys/actions/rotate", "", 200)
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if len(set.Keys) != 2 {
		t.Fatalf("%d keys published after a rotation, want the new and the old", len(set.Keys))
	}
	for _, k := range set.Keys {
		if _, private := k["d"]; private {
			t.Fatal("the JWKS publishes a private key")
		}
	}
	if _, err := verify(tokens[network]); err != nil {
		t.Fatalf("a token signed before the rotation: %v", err)
	}
	c.do("POST", "/api/v1/admin/signing-keys/actions/rotate", "", 403)
}
