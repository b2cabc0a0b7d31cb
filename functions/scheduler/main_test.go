package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/fargate"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/testkit/awstest"
	"github.com/runplane/runplane/internal/testkit/lambdatest"
	"github.com/runplane/runplane/internal/testkit/pgtest"
	"github.com/runplane/runplane/internal/workspace"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	awstest.Stop()
	os.Exit(code)
}

// A real EventBridge scheduled event runs the tick, which admits a pending
// run whose admission event was lost.
func TestScheduledEventAdmitsStrandedRun(t *testing.T) {
	ctx := context.Background()
	p, err := platform.Open(ctx, platform.Config{DatabaseURL: pgtest.URL(t), AdminToken: "admin", Storage: platform.Storage{DataDir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	o, err := org.NewService(p.Pool, "admin").Create(ctx, "acme", org.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := workspace.NewService(p.Pool).Create(ctx, o.ID, workspace.CreateOptions{Name: "w"})
	if err != nil {
		t.Fatal(err)
	}
	// Insert a pending run without admitting it: the lost event.
	q := dbsqlc.New(p.Pool)
	n, err := q.WorkspaceTakeRunNumber(ctx, dbsqlc.WorkspaceTakeRunNumberParams{ID: ws.ID, OrganizationID: o.ID})
	if err != nil {
		t.Fatal(err)
	}
	stranded, err := q.RunCreate(ctx, dbsqlc.RunCreateParams{OrganizationID: o.ID, WorkspaceID: ws.ID, Number: n.Number,
		Status: string(run.StatusPending), StatusTimestamps: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}

	var ev events.EventBridgeEvent
	lambdatest.Event(t, "testdata/scheduled-event.json", &ev)
	res, err := handler(p.Scheduler, 2, 10*time.Millisecond)(ctx, ev)
	// The admitted run waits for an agent: the figure operators autoscale
	// agents on (it was dropped when ticks were summed).
	if err != nil || res.Admitted != 1 || res.Agents != 1 {
		t.Fatalf("tick: %+v %v; want 1 admitted, 1 agent wanted", res, err)
	}
	got, err := p.Runs.Get(ctx, o.ID, stranded.ID)
	if err != nil || got.Status != run.StatusPlanQueued {
		t.Fatalf("stranded run after tick: %v %v", got.Status, err)
	}
	if res, err := handler(p.Scheduler, 2, 10*time.Millisecond)(ctx, ev); err != nil || res.Admitted != 0 {
		t.Fatalf("second tick: %+v %v", res, err)
	}
}

// On AWS the tick launches the agents: with RUNPLANE_AGENT_ECS_* set, one
// ECS task per claimable job (moto's ECS API here), and none again while
// those are still starting.
func TestTickLaunchesAnAgentTaskPerClaimableJob(t *testing.T) {
	ctx := context.Background()
	srv := awstest.Start(t)
	cluster, taskDef := srv.TaskDefinition(t)
	subnet, sg := srv.DefaultNetwork(t)
	env := map[string]string{
		"RUNPLANE_AGENT_POOL_SIZE": "10", "RUNPLANE_AGENT_ECS_CLUSTER": cluster, "RUNPLANE_AGENT_ECS_TASK_DEFINITION": taskDef,
		"RUNPLANE_AGENT_ECS_SUBNETS": subnet, "RUNPLANE_AGENT_ECS_SECURITY_GROUPS": sg, "RUNPLANE_ECS_ENDPOINT": srv.ECSEndpoint,
	}
	p := lambdatest.Open(t, env)
	o, err := org.NewService(p.Pool, lambdatest.AdminToken).Create(ctx, "acme", org.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ws, err := workspace.NewService(p.Pool).Create(ctx, o.ID, workspace.CreateOptions{Name: fmt.Sprintf("w%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Runs.Create(ctx, o.ID, ws.ID, run.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var ev events.EventBridgeEvent
	lambdatest.Event(t, "testdata/scheduled-event.json", &ev)
	res, err := handler(p.Scheduler, 2, 10*time.Millisecond)(ctx, ev)
	if err != nil || res.Agents != 3 || res.Launched != 3 {
		t.Fatalf("tick: %+v %v; want 3 agents wanted and launched", res, err)
	}
	tasks, err := srv.ECS().ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster), StartedBy: aws.String(fargate.StartedBy)})
	if err != nil || len(tasks.TaskArns) != 3 {
		t.Fatalf("tasks in the cluster: %v %v", tasks, err)
	}
}
