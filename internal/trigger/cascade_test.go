package trigger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runplane/runplane/internal/dbcheck"
	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/testkit/pgtest"
	"github.com/runplane/runplane/internal/trigger"
	"github.com/runplane/runplane/internal/workspace"
)

type cascadeFixture struct {
	t        *testing.T
	ctx      context.Context
	q        *dbsqlc.Queries
	check    *dbcheck.Queries
	runs     *run.Service
	triggers *trigger.Service
	cascade  *trigger.Cascade
	dispatch *events.Dispatcher
	pool     *pgxpool.Pool
	orgID    uuid.UUID
	ws       map[string]uuid.UUID
	changed  bool
}

// setupCascade makes workspaces and edges "up>down" in one organization.
func setupCascade(t *testing.T, names []string, edges ...[2]string) *cascadeFixture {
	t.Helper()
	pool := pgtest.New(t)
	ctx := context.Background()
	o, err := org.NewService(pool, "admin").Create(ctx, "acme", org.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := &cascadeFixture{t: t, ctx: ctx, q: dbsqlc.New(pool), check: dbcheck.New(pool), runs: run.NewService(pool, run.DefaultConfig, nil),
		triggers: trigger.NewService(pool), orgID: o.ID, ws: map[string]uuid.UUID{}, changed: true}
	f.cascade = trigger.NewCascade(pool, f.runs, func(context.Context, uuid.UUID, uuid.UUID, *uuid.UUID) (bool, error) { return f.changed, nil })
	f.pool = pool
	f.dispatch = f.dispatcher(events.DefaultConfig)
	wss := workspace.NewService(pool)
	for _, n := range names {
		w, err := wss.Create(ctx, o.ID, workspace.CreateOptions{Name: n})
		if err != nil {
			t.Fatal(err)
		}
		f.ws[n] = w.ID
	}
	for _, e := range edges {
		on := trigger.OnApply
		if len(e[1]) > 1 && e[1][0] == '~' {
			e[1], on = e[1][1:], trigger.OnOutputsChanged
		}
		if _, err := f.triggers.Create(ctx, o.ID, f.ws[e[1]], f.ws[e[0]], on); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// fire moves a run through events, failing the test on any refusal.
func (f *cascadeFixture) fire(id uuid.UUID, events ...run.Event) run.Run {
	f.t.Helper()
	var r run.Run
	var err error
	for _, e := range events {
		if r, err = f.runs.Fire(f.ctx, f.orgID, id, e, run.Input{HasChanges: true}); err != nil {
			f.t.Fatalf("%s: %v", e, err)
		}
	}
	return r
}

var toApplied = []run.Event{run.EventPlanClaimed, run.EventPlanFinished, run.EventConfirm, run.EventApplyClaimed, run.EventApplyFinished}

// apply runs a fresh run on a workspace to applied and delivers its event.
func (f *cascadeFixture) applyAndDeliver(ws string) {
	f.t.Helper()
	r, err := f.runs.Create(f.ctx, f.orgID, f.ws[ws], run.CreateOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	f.fire(r.ID, toApplied...)
	f.sweep()
}

// dispatcher delivers state.changed events to the cascade, as the
// platform wires it.
func (f *cascadeFixture) dispatcher(cfg events.Config) *events.Dispatcher {
	d := events.NewDispatcher(f.pool, cfg, nil)
	d.Handle(events.StateChanged, f.cascade.Deliver)
	return d
}

// sweep delivers every due event, as the tick does.
func (f *cascadeFixture) sweep() {
	f.t.Helper()
	if res, err := f.dispatch.DeliverDue(f.ctx, 100); err != nil || res.Failed > 0 || res.DeadLettered > 0 {
		f.t.Fatalf("sweep: %+v %v", res, err)
	}
}

// runs lists a workspace's runs, newest first.
func (f *cascadeFixture) list(ws string) []run.Run {
	f.t.Helper()
	l, err := f.runs.List(f.ctx, f.orgID, f.ws[ws], 1<<62, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	return l
}

// A diamond a → b → c, a → c: one apply of a gives exactly one run of b
// and one of c; c waits for b, then starts with both causes recorded.
func TestDiamondRunsEachDescendantOnceInOrder(t *testing.T) {
	t.Parallel()
	f := setupCascade(t, []string{"a", "b", "c"}, [2]string{"a", "b"}, [2]string{"b", "c"}, [2]string{"a", "c"})
	f.applyAndDeliver("a")
	f.sweep() // a second delivery attempt changes nothing
	b, c := f.list("b"), f.list("c")
	if len(b) != 1 || len(c) != 1 || !b[0].Triggered || !c[0].Triggered {
		t.Fatalf("b %d runs, c %d runs", len(b), len(c))
	}
	if b[0].Status != run.StatusPlanQueued {
		t.Fatalf("b is %s, want plan_queued", b[0].Status)
	}
	if c[0].Status != run.StatusPending || c[0].WaitReason != run.WaitUpstream {
		t.Fatalf("c is %s (%s), want pending for its upstream", c[0].Status, c[0].WaitReason)
	}
	f.fire(b[0].ID, toApplied...)
	// b's apply is not fanned out yet: c keeps waiting, so that b's event
	// joins c's run instead of adding a second one.
	if got := f.list("c"); len(got) != 1 || got[0].Status != run.StatusPending {
		t.Fatalf("c after b applied: %d runs, %s", len(got), got[0].Status)
	}
	f.sweep()
	if got := f.list("c"); len(got) != 1 || got[0].Status != run.StatusPlanQueued {
		t.Fatalf("c after b's event: %d runs, %s", len(got), got[0].Status)
	}
	causes, err := f.q.RunCauseList(f.ctx, dbsqlc.RunCauseListParams{RunID: c[0].ID, OrganizationID: f.orgID})
	if err != nil || len(causes) != 2 {
		t.Fatalf("c's causes: %d %v", len(causes), err)
	}
}

// A failing upstream cancels its descendants' pending triggered runs.
func TestFailedUpstreamCancelsTheCascade(t *testing.T) {
	t.Parallel()
	f := setupCascade(t, []string{"a", "b", "c"}, [2]string{"a", "b"}, [2]string{"b", "c"}, [2]string{"a", "c"})
	f.applyAndDeliver("a")
	b := f.list("b")[0]
	f.fire(b.ID, run.EventPlanClaimed, run.EventFail)
	c := f.list("c")[0]
	if c.Status != run.StatusCanceled || c.Error == "" {
		t.Fatalf("c is %s (%q), want canceled with the reason", c.Status, c.Error)
	}
}

// An outputs_changed edge fires only when the outputs changed.
func TestOutputsChangedEdge(t *testing.T) {
	t.Parallel()
	f := setupCascade(t, []string{"a", "d"}, [2]string{"a", "~d"})
	f.changed = false
	f.applyAndDeliver("a")
	if n := len(f.list("d")); n != 0 {
		t.Fatalf("unchanged outputs triggered %d runs", n)
	}
	f.changed = true
	f.applyAndDeliver("a")
	if n := len(f.list("d")); n != 1 {
		t.Fatalf("changed outputs triggered %d runs", n)
	}
}

// The same event delivered by several deliverers at once — each believing
// it holds the event, as when one outlives its visibility timeout — yields
// one run per descendant.
func TestConcurrentDeliveriesCreateOneRun(t *testing.T) {
	t.Parallel()
	f := setupCascade(t, []string{"a", "b", "c"}, [2]string{"a", "b"}, [2]string{"b", "c"})
	r, err := f.runs.Create(f.ctx, f.orgID, f.ws["a"], run.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.fire(r.ID, toApplied...)
	pending, err := f.q.EventListDueByRun(f.ctx, dbsqlc.EventListDueByRunParams{RunID: &r.ID, Now: time.Now()})
	if err != nil || len(pending) != 1 {
		t.Fatalf("events %v %v", pending, err)
	}
	id := pending[0].ID
	// No visibility timeout: every deliverer claims the event and runs
	// the handler; only the transaction that records it commits its runs.
	cfg := events.DefaultConfig
	cfg.Visibility = 0
	racing := f.dispatcher(cfg)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := racing.Deliver(f.ctx, id); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := racing.DeliverDue(f.ctx, 10); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if b, c := f.list("b"), f.list("c"); len(b) != 1 || len(c) != 1 {
		t.Fatalf("b %d runs, c %d runs", len(b), len(c))
	}
	causes, err := f.q.RunCauseList(f.ctx, dbsqlc.RunCauseListParams{RunID: f.list("b")[0].ID, OrganizationID: f.orgID})
	if err != nil || len(causes) != 1 {
		t.Fatalf("b's causes: %d %v", len(causes), err)
	}
}

// Random DAGs and random apply/fail sequences: after every step no
// triggered run has started while a direct upstream still had a run going,
// and no workspace got two runs from one cascade.
func TestRandomCascadesKeepOrderAndUniqueness(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 3))
	for round := range 3 {
		n := 5 + r.IntN(20)
		names := make([]string, n)
		var edges [][2]string
		for i := range n {
			names[i] = fmt.Sprintf("w%d", i)
			for j := range i {
				if r.IntN(4) == 0 {
					edges = append(edges, [2]string{names[j], names[i]})
				}
			}
		}
		f := setupCascade(t, names, edges...)
		check := func(step string) {
			bad, err := f.check.InvariantTriggeredBeforeUpstream(f.ctx)
			if err != nil || len(bad) > 0 {
				t.Fatalf("round %d %s: triggered runs started before their upstream finished: %+v %v", round, step, bad, err)
			}
			dup, err := f.check.InvariantDuplicateCascadeRuns(f.ctx)
			if err != nil || len(dup) > 0 {
				t.Fatalf("round %d %s: duplicate cascade runs: %+v %v", round, step, dup, err)
			}
		}
		for step := range 40 {
			// Start a cascade at a random workspace now and then.
			if r.IntN(5) == 0 {
				ws := names[r.IntN(n)]
				if cr, err := f.runs.Create(f.ctx, f.orgID, f.ws[ws], run.CreateOptions{}); err == nil && cr.Status == run.StatusPlanQueued {
					_, _ = f.runs.Fire(f.ctx, f.orgID, cr.ID, run.EventPlanClaimed, run.Input{})
				}
			}
			// Drive every started run one event on: mostly to applied, sometimes to failure.
			for _, name := range names {
				for _, rn := range f.list(name) {
					var e run.Event
					switch rn.Status {
					case run.StatusPlanQueued:
						e = run.EventPlanClaimed
					case run.StatusPlanning:
						e = run.EventPlanFinished
						if r.IntN(6) == 0 {
							e = run.EventFail
						}
					case run.StatusPlanned:
						e = run.EventConfirm
					case run.StatusApplyQueued:
						e = run.EventApplyClaimed
					case run.StatusApplying:
						e = run.EventApplyFinished
					default:
						continue
					}
					if _, err := f.runs.Fire(f.ctx, f.orgID, rn.ID, e, run.Input{HasChanges: true}); err != nil && !errors.Is(err, run.ErrTransition) {
						t.Fatal(err)
					}
					check(fmt.Sprintf("step %d after %s", step, e))
				}
			}
			f.sweep()
			check(fmt.Sprintf("step %d after the sweep", step))
		}
	}
}
