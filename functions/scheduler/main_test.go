package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/testkit/lambdatest"
	"github.com/runplane/runplane/internal/testkit/pgtest"
	"github.com/runplane/runplane/internal/workspace"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

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
