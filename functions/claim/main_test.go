package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/runplane/runplane/internal/testkit/lambdatest"
	"github.com/runplane/runplane/internal/testkit/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// A real API Gateway HTTP API (v2) event for the agent API's claim reaches
// the handler through the Lambda adapter and hands out the queued run; the
// same event with another token is refused.
func TestClaimEventHandsOutTheQueuedRun(t *testing.T) {
	p := lambdatest.Open(t, map[string]string{"RUNPLANE_AGENT_TOKEN": "rpagent_lambda-test-token"})
	api := func(method, path, token, body string) map[string]any {
		t.Helper()
		return lambdatest.Call(t, p, method, path, token, body)
	}
	api("POST", "/api/v1/organizations", lambdatest.AdminToken, `{"name":"claimer"}`)
	token := api("POST", "/api/v1/organizations/claimer/tokens", lambdatest.AdminToken, `{"description":"t","role":"admin"}`)["token"].(string)
	ws := api("POST", "/api/v1/organizations/claimer/workspaces", token, `{"name":"net"}`)["id"].(string)
	lambdatest.Configure(t, p, ws, token)
	runID := api("POST", "/api/v1/workspaces/"+ws+"/runs", token, `{}`)["id"].(string)

	var ev events.APIGatewayV2HTTPRequest
	lambdatest.Event(t, "testdata/claim.json", &ev)

	ev.Headers["authorization"] = "Bearer rpagent_not-the-token"
	resp, err := p.HTTPLambda()(context.Background(), ev)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong agent token: %d %v %s", resp.StatusCode, err, resp.Body)
	}

	ev.Headers["authorization"] = "Bearer rpagent_lambda-test-token"
	resp, err = p.HTTPLambda()(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var job struct {
		RunID      string `json:"run_id"`
		Phase      string `json:"phase"`
		LeaseToken string `json:"lease_token"`
		Credential string `json:"credential"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(resp.Body), &job) != nil {
		t.Fatalf("claim: %d %s", resp.StatusCode, resp.Body)
	}
	if job.RunID != runID || job.Phase != "plan" || job.LeaseToken == "" || job.Credential == "" {
		t.Fatalf("claimed %+v, want the plan of run %s with a lease and a credential", job, runID)
	}
	if st := api("GET", "/api/v1/runs/"+runID, token, "")["status"]; st != "planning" {
		t.Fatalf("run is %v after the claim, want planning", st)
	}
}
