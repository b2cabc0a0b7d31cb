package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/testkit/lambdatest"
	"github.com/runplane/runplane/internal/testkit/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

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
