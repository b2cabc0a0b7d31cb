package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/testkit/awstest"
	"github.com/runplane/runplane/internal/testkit/lambdatest"
	"github.com/runplane/runplane/internal/testkit/pgtest"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	awstest.Stop()
	os.Exit(code)
}

// A real API Gateway HTTP API (v2) event goes through the Lambda adapter to
// the same handler the server runs, and creates an organization.
func TestAPIGatewayEventReachesHandler(t *testing.T) {
	p := lambdatest.Open(t, nil)
	var ev events.APIGatewayV2HTTPRequest
	lambdatest.Event(t, "testdata/create-organization.json", &ev)
	resp, err := p.HTTPLambda()(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("body %q: %v", resp.Body, err)
	}
	if resp.StatusCode != 201 || body["name"] != "lambda" || resp.Headers["Content-Type"] != "application/json" {
		t.Fatalf("status %d headers %v body %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	// The same event again is a conflict, answered as JSON by the same path.
	resp, err = p.HTTPLambda()(context.Background(), ev)
	if err != nil || resp.StatusCode != 409 {
		t.Fatalf("duplicate: %d %v %s", resp.StatusCode, err, resp.Body)
	}
}

// The API function with everything but the site-admin token would answer
// every admin request 401: it refuses to start and says why.
func TestRefusesToStartWithoutAdminToken(t *testing.T) {
	env := map[string]string{"DATABASE_URL": pgtest.URL(t), "RUNPLANE_DATA_DIR": t.TempDir()}
	_, err := platform.OpenFromEnv(context.Background(), func(k string) string { return env[k] }, needs)
	if err == nil || !strings.Contains(err.Error(), "RUNPLANE_ADMIN_TOKEN") {
		t.Fatalf("started without RUNPLANE_ADMIN_TOKEN: %v", err)
	}
}

// Behind API Gateway the Terraform Cloud API's capability URLs name the
// gateway's https address (its Host and X-Forwarded-Proto), and an upload
// to one, without a token, reaches the same handler and completes the
// configuration version.
func TestTFEUploadURLThroughAPIGateway(t *testing.T) {
	p := lambdatest.Open(t, nil)
	var template events.APIGatewayV2HTTPRequest
	lambdatest.Event(t, "testdata/create-organization.json", &template)
	call := func(method, path, token string, body []byte) events.APIGatewayV2HTTPResponse {
		t.Helper()
		ev := template
		ev.Headers = maps.Clone(template.Headers)
		ev.RawPath, ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = path, method, path
		ev.Headers["authorization"] = "Bearer " + token
		ev.Headers["content-type"] = "application/vnd.api+json"
		ev.Headers["content-length"] = strconv.Itoa(len(body))
		if token == "" {
			delete(ev.Headers, "authorization")
		}
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		resp, err := p.HTTPLambda()(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	attrs := func(resp events.APIGatewayV2HTTPResponse, want int) (string, map[string]any) {
		t.Helper()
		var doc struct {
			Data struct {
				ID         string         `json:"id"`
				Attributes map[string]any `json:"attributes"`
			} `json:"data"`
		}
		if resp.StatusCode != want || json.Unmarshal([]byte(resp.Body), &doc) != nil {
			t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, resp.Body)
		}
		return doc.Data.ID, doc.Data.Attributes
	}
	attrs(call("POST", "/api/v2/organizations", lambdatest.AdminToken, []byte(`{"data":{"type":"organizations","attributes":{"name":"gw","email":"a@b.c"}}}`)), 201)
	_, tok := attrs(call("POST", "/api/v2/organizations/gw/authentication-token", lambdatest.AdminToken, []byte(`{"data":{"type":"authentication-tokens"}}`)), 201)
	token := tok["token"].(string)
	ws, _ := attrs(call("POST", "/api/v2/organizations/gw/workspaces", token, []byte(`{"data":{"type":"workspaces","attributes":{"name":"net"}}}`)), 201)
	cv, created := attrs(call("POST", "/api/v2/workspaces/"+ws+"/configuration-versions", token, []byte(`{"data":{"type":"configuration-versions","attributes":{"auto-queue-runs":false}}}`)), 201)
	upload, _ := created["upload-url"].(string)
	prefix := "https://abc123.execute-api.eu-west-1.amazonaws.com/api/v2/uploads/"
	if !strings.HasPrefix(upload, prefix) {
		t.Fatalf("upload URL %q, want it under %s", upload, prefix)
	}
	if resp := call("PUT", strings.TrimPrefix(upload, "https://abc123.execute-api.eu-west-1.amazonaws.com"), "", lambdatest.Tarball(map[string]string{"main.tf": ""})); resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, resp.Body)
	}
	if _, got := attrs(call("GET", "/api/v2/configuration-versions/"+cv, token, nil), 200); got["status"] != "uploaded" {
		t.Fatalf("after the upload: %v", got)
	}
}

// On AWS the function is given its secrets by ARN and reads them from
// Secrets Manager at start (moto's API here): the values are not in its
// configuration. A secret without the expected key stops the start and
// says which.
func TestSecretsAreReadFromSecretsManager(t *testing.T) {
	srv := awstest.Start(t)
	env := map[string]string{
		"DATABASE_URL_SECRET_ARN":          srv.Secret(t, `{"DATABASE_URL":"`+pgtest.URL(t)+`"}`),
		"RUNPLANE_ADMIN_TOKEN_SECRET_ARN":  srv.Secret(t, `{"RUNPLANE_ADMIN_TOKEN":"from-secrets-manager"}`),
		"RUNPLANE_SECRETSMANAGER_ENDPOINT": srv.KMSEndpoint, "RUNPLANE_DATA_DIR": t.TempDir(),
	}
	p, err := platform.OpenFromEnv(context.Background(), func(k string) string { return env[k] }, needs)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Config().AdminToken != "from-secrets-manager" {
		t.Fatalf("admin token %q", p.Config().AdminToken)
	}
	env["RUNPLANE_ADMIN_TOKEN_SECRET_ARN"] = srv.Secret(t, `{"OTHER":"x"}`)
	if _, err := platform.OpenFromEnv(context.Background(), func(k string) string { return env[k] }, needs); err == nil || !strings.Contains(err.Error(), "RUNPLANE_ADMIN_TOKEN") {
		t.Fatalf("a secret without the key: %v", err)
	}
}
