package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/pgembed"
	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/trigger"
	"github.com/runplane/runplane/internal/workspace"
)

var dagNodes = flag.Int("dag", 1000, "triggers: workspaces in the DAG")

// triggerBench: fan-out latency from an applied run to every descendant's
// run pending, for a DAG of -dag workspaces in one organization.
func triggerBench(ctx context.Context, cluster *pgembed.Cluster, dir string) error {
	databaseURL, err := freshDatabase(ctx, cluster, "bench_triggers")
	if err != nil {
		return err
	}
	p, err := platform.Open(ctx, platform.Config{DatabaseURL: databaseURL, AdminToken: "bench-admin", Storage: platform.Storage{DataDir: dir + "/triggers"}})
	if err != nil {
		return err
	}
	defer p.Close()
	o, err := org.NewService(p.Pool, "bench-admin").Create(ctx, "dag", org.CreateOptions{})
	if err != nil {
		return err
	}
	wss := workspace.NewService(p.Pool)
	triggers := trigger.NewService(p.Pool)
	r := rand.New(rand.NewPCG(1, 2))
	nodes := make([]uuid.UUID, *dagNodes)
	edges := 0
	for i := range nodes {
		w, err := wss.Create(ctx, o.ID, workspace.CreateOptions{Name: fmt.Sprintf("n%d", i)})
		if err != nil {
			return err
		}
		nodes[i] = w.ID
		// Every node hangs below one or two earlier ones: node 0 reaches all.
		for k := range min(i, 1+r.IntN(2)) {
			up := nodes[r.IntN(i)]
			if k == 0 {
				up = nodes[(i-1)/2]
			}
			if _, err := triggers.Create(ctx, o.ID, w.ID, up, trigger.OnApply); err == nil {
				edges++
			}
		}
	}
	measure := func() (time.Duration, error) {
		root, err := p.Runs.Create(ctx, o.ID, nodes[0], run.CreateOptions{})
		if err != nil {
			return 0, err
		}
		for _, e := range []run.Event{run.EventPlanClaimed, run.EventPlanFinished, run.EventConfirm, run.EventApplyClaimed} {
			if _, err := p.Runs.Fire(ctx, o.ID, root.ID, e, run.Input{HasChanges: true}); err != nil {
				return 0, err
			}
		}
		start := time.Now()
		if _, err := p.Runs.Fire(ctx, o.ID, root.ID, run.EventApplyFinished, run.Input{}); err != nil {
			return 0, err
		}
		// What an agent's finish does once its transaction committed.
		p.Events.Send(ctx, root.ID)
		p.Events.Drain()
		return time.Since(start), nil
	}
	fresh, err := measure()
	if err != nil {
		return err
	}
	pending := 0
	for _, n := range nodes[1:] {
		list, err := p.Runs.List(ctx, o.ID, n, 1<<62, 10)
		if err != nil {
			return err
		}
		if len(list) == 1 && list[0].Triggered {
			pending++
		}
	}
	coalesced, err := measure()
	if err != nil {
		return err
	}
	fmt.Printf("triggers: a DAG of %d workspaces and %d edges in one organization; time from the root run's apply_finished\n", len(nodes), edges)
	fmt.Printf("transaction to the fan-out transaction committed (one delivery, in process)\n")
	fmt.Printf("%-60s %8.1f ms (%d of %d descendants got exactly one run)\n", "fan-out, fresh cascade", ms(fresh), pending, len(nodes)-1)
	fmt.Printf("%-60s %8.1f ms\n\n", "fan-out, second apply coalescing into the pending runs", ms(coalesced))
	return nil
}
