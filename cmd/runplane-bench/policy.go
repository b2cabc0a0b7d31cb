package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/pgembed"
	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/policy"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/workspace"
)

// benchPlan is a plan JSON of n resource changes, as terraform show -json
// writes them (each a create with a few attributes).
func benchPlan(n int) []byte {
	type change struct {
		Address string `json:"address"`
		Type    string `json:"type"`
		Change  struct {
			Actions []string       `json:"actions"`
			After   map[string]any `json:"after"`
		} `json:"change"`
	}
	var plan struct {
		FormatVersion   string   `json:"format_version"`
		ResourceChanges []change `json:"resource_changes"`
	}
	plan.FormatVersion = "1.2"
	for i := range n {
		c := change{Address: fmt.Sprintf("terraform_data.n%d", i), Type: "terraform_data"}
		c.Change.Actions = []string{"create"}
		c.Change.After = map[string]any{"input": fmt.Sprintf("10.%d.%d.0/24", i/256, i%256), "tags": map[string]string{"team": "net", "env": "prod"}}
		plan.ResourceChanges = append(plan.ResourceChanges, c)
	}
	b, _ := json.Marshal(plan)
	return b
}

type fixedPlan []byte

func (p fixedPlan) PlanJSON(context.Context, uuid.UUID, uuid.UUID, uuid.UUID) ([]byte, error) {
	return p, nil
}

// policyBench: what a policy check adds between plan and apply — every
// policy of the organization evaluated on the plan, then the transaction
// that records the results and moves the run — for 1 and 10 policies.
func policyBench(ctx context.Context, cluster *pgembed.Cluster, dir string) error {
	plan := benchPlan(500)
	fmt.Printf("policy check: plan JSON of 500 resource changes (%d KB) from memory; each policy walks every change\n", len(plan)/1000)
	for _, n := range []int{1, 10} {
		databaseURL, err := freshDatabase(ctx, cluster, fmt.Sprintf("bench_policy_%d", n))
		if err != nil {
			return err
		}
		p, err := platform.Open(ctx, platform.Config{DatabaseURL: databaseURL, AdminToken: "bench-admin", Storage: platform.Storage{DataDir: dir + "/policy"}})
		if err != nil {
			return err
		}
		o, err := org.NewService(p.Pool, "bench-admin").Create(ctx, "pol", org.CreateOptions{})
		if err != nil {
			return err
		}
		checks := policy.NewService(p.Pool, p.Runs, fixedPlan(plan))
		for i := range n {
			rego := fmt.Sprintf(`package bench.p%d

deny contains msg if {
	some rc in input.resource_changes
	"create" in rc.change.actions
	not startswith(rc.change.after.input, "10.")
	msg := sprintf("%%s: %%d", [rc.address, %d])
}`, i, i)
			if _, err := checks.Create(ctx, o.ID, fmt.Sprintf("p%d", i), rego, policy.HardMandatory); err != nil {
				return err
			}
		}
		w, err := workspace.NewService(p.Pool).Create(ctx, o.ID, workspace.CreateOptions{Name: "w"})
		if err != nil {
			return err
		}
		var lat []time.Duration
		for range 60 {
			r, err := p.Runs.Create(ctx, o.ID, w.ID, run.CreateOptions{})
			if err != nil {
				return err
			}
			for _, e := range []run.Event{run.EventPlanClaimed, run.EventPlanFinished} {
				if _, err := p.Runs.Fire(ctx, o.ID, r.ID, e, run.Input{HasChanges: true, PoliciesExist: true}); err != nil {
					return err
				}
			}
			start := time.Now()
			if err := checks.Check(ctx, o.ID, r.ID); err != nil {
				return err
			}
			lat = append(lat, time.Since(start))
			if got, err := p.Runs.Fire(ctx, o.ID, r.ID, run.EventDiscard, run.Input{}); err != nil || got.Status != run.StatusDiscarded {
				return fmt.Errorf("the checked run did not pass: %s %v", got.Status, err)
			}
		}
		p.Close()
		lat = lat[10:] // warm-up
		slices.Sort(lat)
		label := "check p50 / p99, 1 policy"
		if n > 1 {
			label = fmt.Sprintf("check p50 / p99, %d policies", n)
		}
		fmt.Printf("%-60s %7.2f ms %7.2f ms\n", label, ms(pct(lat, 50)), ms(pct(lat, 99)))
	}
	fmt.Println()
	return nil
}
