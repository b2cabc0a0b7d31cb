package main

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/testkit/lambdatest"
	"github.com/runplane/runplane/internal/testkit/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// An SQS event carrying an applied run's state.changed event, handled by
// the function over the real database, queues the downstream run; SQS
// delivering it again adds nothing.
func TestSQSEventQueuesTheDownstreamRun(t *testing.T) {
	ctx := context.Background()
	p := lambdatest.Open(t, nil)
	api := func(method, path, token, body string) map[string]any {
		t.Helper()
		return lambdatest.Call(t, p, method, path, token, body)
	}
	orgID := uuid.MustParse(api("POST", "/api/v1/organizations", lambdatest.AdminToken, `{"name":"fan"}`)["id"].(string))
	token := api("POST", "/api/v1/organizations/fan/tokens", lambdatest.AdminToken, `{"description":"t","role":"admin"}`)["token"].(string)
	down := api("POST", "/api/v1/organizations/fan/workspaces", token, `{"name":"app"}`)["id"].(string)
	up := api("POST", "/api/v1/organizations/fan/workspaces", token, `{"name":"net","remote_state_consumers":["`+down+`"]}`)["id"].(string)
	api("POST", "/api/v1/workspaces/"+down+"/triggers", token, `{"upstream_workspace_id":"`+up+`","on":"apply"}`)
	lambdatest.Configure(t, p, up, token)
	lambdatest.Configure(t, p, down, token)
	upRun := uuid.MustParse(api("POST", "/api/v1/workspaces/"+up+"/runs", token, `{}`)["id"].(string))
	for _, e := range []run.Event{run.EventPlanClaimed, run.EventPlanFinished, run.EventConfirm, run.EventApplyClaimed, run.EventApplyFinished} {
		if _, err := p.Runs.Fire(ctx, orgID, upRun, e, run.Input{HasChanges: true}); err != nil {
			t.Fatalf("%s: %v", e, err)
		}
	}
	pending, err := dbsqlc.New(p.Pool).EventListDueByRun(ctx, dbsqlc.EventListDueByRunParams{RunID: &upRun, Now: time.Now()})
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending events of the applied run: %v %v", pending, err)
	}

	var ev awsevents.SQSEvent
	lambdatest.Event(t, "testdata/sqs-event.json", &ev)
	body, _ := json.Marshal(events.Message{EventID: pending[0].ID})
	ev.Records[0].Body = string(body)
	for range 2 {
		resp, err := handler(p.Events.Deliver)(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("%+v %v", resp, err)
		}
	}
	runs := api("GET", "/api/v1/workspaces/"+down+"/runs", token, "")["items"].([]any)
	if len(runs) != 1 || runs[0].(map[string]any)["status"] != "plan_queued" {
		t.Fatalf("downstream runs after the event, twice: %v", runs)
	}
}
