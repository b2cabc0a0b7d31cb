package run_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runplane/runplane/internal/dbcheck"
	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/schedule"
	"github.com/runplane/runplane/internal/testkit/pgtest"
	"github.com/runplane/runplane/internal/workspace"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type fixture struct {
	ctx        context.Context
	pool       *pgxpool.Pool
	runs       *run.Service
	workspaces *workspace.Service
	wsIDs      []uuid.UUID
	// Workspaces are spread over a few organizations, as in life: every
	// organization's row is written by its own runs' transitions.
	orgOf   map[uuid.UUID]uuid.UUID
	tokenOf map[uuid.UUID]uuid.UUID
}

func setup(t *testing.T, nWorkspaces int) *fixture {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.New(t)
	orgs := org.NewService(pool, "admin-secret")
	f := &fixture{ctx: ctx, pool: pool, runs: run.NewService(pool, run.Config{MaxPlanAttempts: 2}, nil),
		workspaces: workspace.NewService(pool), orgOf: map[uuid.UUID]uuid.UUID{}, tokenOf: map[uuid.UUID]uuid.UUID{}}
	var orgIDs []uuid.UUID
	for i := range max(1, nWorkspaces/5) {
		o, err := orgs.Create(ctx, fmt.Sprintf("org%d", i), org.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := orgs.CreateToken(ctx, o.ID, "test", org.RoleAdmin)
		if err != nil {
			t.Fatal(err)
		}
		orgIDs = append(orgIDs, o.ID)
		f.tokenOf[o.ID] = tok.ID
	}
	for i := range nWorkspaces {
		orgID := orgIDs[i%len(orgIDs)]
		ws, err := f.workspaces.Create(ctx, orgID, workspace.CreateOptions{Name: "ws" + string(rune('a'+i%26)) + uuid.NewString()[:8]})
		if err != nil {
			t.Fatal(err)
		}
		f.wsIDs = append(f.wsIDs, ws.ID)
		f.orgOf[ws.ID] = orgID
	}
	return f
}

// checkInvariants fails the test if any live-database invariant is broken.
func (f *fixture) checkInvariants(t *testing.T) {
	t.Helper()
	q := dbcheck.New(f.pool)
	mismatch, err := q.InvariantHolderMismatch(f.ctx, run.HoldingStatuses())
	if err != nil {
		t.Error(err)
		return
	}
	for _, m := range mismatch {
		t.Errorf("holder mismatch: run %s in %s, workspace %s active_run_id %v", m.ID, m.Status, m.WorkspaceID, m.ActiveRunID)
	}
	order, err := q.InvariantOutOfOrderAdmission(f.ctx)
	if err != nil {
		t.Error(err)
		return
	}
	for _, o := range order {
		t.Errorf("workspace %s admitted run %s while older run %s is pending", o.WorkspaceID, o.AdmittedRunID, o.PendingRunID)
	}
	load, err := q.InvariantOrgLoadMismatch(f.ctx)
	if err != nil {
		t.Error(err)
		return
	}
	for _, l := range load {
		t.Errorf("organization %s counts %d running, its runs say %d", l.ID, l.Running, l.ActualRunning)
	}
	ranking, err := q.InvariantOrgQueueMismatch(f.ctx)
	if err != nil {
		t.Error(err)
		return
	}
	for _, r := range ranking {
		t.Errorf("organization %s ranks at share %v, at cap %v, waiting since %v; its runs say waiting since %v", r.ID, r.Share, r.AtCap, r.WaitingSince, r.ActualWaitingSince)
	}
}

// insertLost creates a pending run without admitting it, as if the event that
// should have admitted it was lost; the tick must repair it.
func (f *fixture) insertLost(t *testing.T, wsID uuid.UUID) {
	// Numbered and inserted in one transaction, as any run is: apart, a run
	// created and admitted in between would overtake it.
	err := dbtx.Run(f.ctx, f.pool, func(q *dbsqlc.Queries) error {
		n, err := q.WorkspaceTakeRunNumber(f.ctx, dbsqlc.WorkspaceTakeRunNumberParams{ID: wsID, OrganizationID: f.orgOf[wsID]})
		if err != nil {
			return err
		}
		_, err = q.RunCreate(f.ctx, dbsqlc.RunCreateParams{OrganizationID: f.orgOf[wsID], WorkspaceID: wsID, Number: n.Number,
			Status: string(run.StatusPending), StatusTimestamps: []byte(`{}`)})
		return err
	})
	if err != nil && !errors.Is(err, dbtx.ErrTooManyRetries) {
		t.Error(err)
	}
}

var forward = map[run.Status]run.Event{
	run.StatusPlanQueued: run.EventPlanClaimed, run.StatusPlanning: run.EventPlanFinished,
	run.StatusPlanned: run.EventConfirm, run.StatusApplyQueued: run.EventApplyClaimed,
	run.StatusApplying: run.EventApplyFinished,
}

// step does one random thing to one random workspace.
func (f *fixture) step(t *testing.T, r *rand.Rand, counts *sync.Map) {
	wsID := f.wsIDs[r.IntN(len(f.wsIDs))]
	orgID := f.orgOf[wsID]
	var err error
	var action string
	switch p := r.IntN(100); {
	case p < 18:
		action = "create"
		_, err = f.runs.Create(f.ctx, orgID, wsID, run.CreateOptions{PlanOnly: r.IntN(8) == 0})
	case p < 21:
		action = "lock"
		_, err = f.workspaces.Lock(f.ctx, orgID, wsID, f.tokenOf[orgID], "test")
	case p < 26:
		action = "unlock"
		_, err = f.workspaces.Unlock(f.ctx, orgID, wsID, f.tokenOf[orgID], true)
	case p < 28:
		action = "lost-event"
		f.insertLost(t, wsID)
	case p < 31:
		// Drive the run holding the workspace on to its end, so that whole
		// lifecycles, applies included, happen amid the noise.
		action = "drive"
		list, lerr := f.runs.List(f.ctx, orgID, wsID, 1<<62, 6)
		err = lerr
		for _, rn := range list {
			if !rn.Status.Holds(rn.PlanOnly) {
				continue
			}
			for err == nil {
				e, ok := forward[rn.Status]
				if !ok {
					break
				}
				if rn, err = f.runs.Fire(f.ctx, orgID, rn.ID, e, run.Input{HasChanges: true}); err == nil {
					v, _ := counts.LoadOrStore(string(e), new(atomic.Int64))
					v.(*atomic.Int64).Add(1)
				}
			}
		}
	default:
		list, lerr := f.runs.List(f.ctx, orgID, wsID, 1<<62, 6)
		if lerr != nil || len(list) == 0 {
			err = lerr
			break
		}
		rn := list[r.IntN(len(list))]
		if r.IntN(2) == 0 { // mostly drive the run that holds the workspace, so runs finish
			for _, c := range list {
				if c.Status.Holds(c.PlanOnly) {
					rn = c
				}
			}
		}
		e := run.AllEvents[r.IntN(len(run.AllEvents))]
		switch r.IntN(4) {
		case 0, 1: // the event that moves this run along, so runs get finished
			if next, ok := forward[rn.Status]; ok {
				e = next
			}
		case 2:
			e = []run.Event{run.EventCancel, run.EventDiscard, run.EventFail}[r.IntN(3)]
		}
		action = string(e)
		_, err = f.runs.Fire(f.ctx, orgID, rn.ID, e, run.Input{HasChanges: r.IntN(2) == 0})
	}
	switch {
	case err == nil:
		v, _ := counts.LoadOrStore(action, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	case errors.Is(err, run.ErrTransition), errors.Is(err, workspace.ErrLocked),
		errors.Is(err, workspace.ErrNotLocked):
	case errors.Is(err, dbtx.ErrTooManyRetries):
		// The API answers 503 "contention; retry"; the test bounds how often.
		v, _ := counts.LoadOrStore("gave-up", new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	default:
		t.Errorf("%s: %v", action, err)
	}
}

func (f *fixture) settle(t *testing.T) {
	t.Helper()
	if _, err := schedule.Admit(f.ctx, f.pool); err != nil {
		t.Fatal(err)
	}
	stranded, err := dbcheck.New(f.pool).InvariantStrandedPending(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stranded {
		t.Errorf("run %s pending on free, unlocked workspace %s after settling", s.ID, s.WorkspaceID)
	}
	f.checkInvariants(t)
}

// Many goroutines over many workspaces create, cancel, discard and finish runs,
// lock and unlock, and lose events, while two scheduler ticks run at once.
func TestConcurrentLifecycleKeepsInvariants(t *testing.T) {
	t.Parallel()
	f := setup(t, 20)
	const workers = 32
	duration := 4 * time.Second
	if testing.Short() {
		duration = time.Second
	}
	deadline := time.Now().Add(duration)
	// Past the duration, keep going until every action the test must cover
	// happened (a slow machine may need longer), up to a hard limit.
	hardDeadline := deadline.Add(20 * time.Second)
	var counts sync.Map
	busy := func() bool {
		now := time.Now()
		return now.Before(deadline) || (now.Before(hardDeadline) && !exercised(&counts))
	}
	var wg sync.WaitGroup
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			for busy() && !t.Failed() {
				f.step(t, r, &counts)
				f.checkInvariants(t)
			}
		}()
	}
	var ticks atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for busy() && !t.Failed() {
				admitted, err := schedule.Admit(f.ctx, f.pool)
				if err != nil {
					t.Error(err)
				}
				ticks.Add(int64(admitted))
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	f.settle(t)
	counts.Range(func(k, v any) bool {
		t.Logf("%-20s %d", k, v.(*atomic.Int64).Load())
		return true
	})
	t.Logf("ticks admitted %d", ticks.Load())
	var total int64
	counts.Range(func(_, v any) bool { total += v.(*atomic.Int64).Load(); return true })
	if v, ok := counts.Load("gave-up"); ok && v.(*atomic.Int64).Load()*100 > total {
		t.Errorf("%d of %d operations gave up on contention; want under 1%%", v.(*atomic.Int64).Load(), total)
	}
	for _, must := range mustExercise {
		if v, ok := counts.Load(must); !ok || v.(*atomic.Int64).Load() == 0 {
			t.Errorf("no successful %s: the test did not exercise it", must)
		}
	}
}

// mustExercise are the actions the concurrency test must have done at least once.
var mustExercise = []string{"create", "cancel", "discard", "apply_finished", "unlock", "lost-event"}

func exercised(counts *sync.Map) bool {
	for _, must := range mustExercise {
		if v, ok := counts.Load(must); !ok || v.(*atomic.Int64).Load() == 0 {
			return false
		}
	}
	return true
}

// One goroutine, random events, invariants after every step: a failure here
// is reproducible from the logged seed.
func TestRandomLifecycleSequential(t *testing.T) {
	t.Parallel()
	f := setup(t, 4)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	var counts sync.Map
	for range 600 {
		f.step(t, r, &counts)
		f.checkInvariants(t)
		if t.Failed() {
			return
		}
	}
	f.settle(t)
}

// A cancel asked of an applying run leaves it applying until its agent
// stops; the time it entered applying is kept, not replaced by the cancel's.
func TestCancelKeepsTheTimeTheRunStartedApplying(t *testing.T) {
	t.Parallel()
	f := setup(t, 1)
	ws := f.wsIDs[0]
	orgID := f.orgOf[ws]
	r, err := f.runs.Create(f.ctx, orgID, ws, run.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []run.Event{run.EventPlanClaimed, run.EventPlanFinished, run.EventConfirm, run.EventApplyClaimed} {
		if r, err = f.runs.Fire(f.ctx, orgID, r.ID, e, run.Input{HasChanges: true}); err != nil {
			t.Fatalf("%s: %v", e, err)
		}
	}
	applying := r.StatusTimestamps[run.StatusApplying]
	time.Sleep(10 * time.Millisecond)
	if r, err = f.runs.Fire(f.ctx, orgID, r.ID, run.EventCancel, run.Input{}); err != nil {
		t.Fatal(err)
	}
	if r.Status != run.StatusApplying || !r.StatusTimestamps[run.StatusApplying].Equal(applying) {
		t.Fatalf("after cancel: %s, applying at %v, want %v", r.Status, r.StatusTimestamps[run.StatusApplying], applying)
	}
}

// A person's run needs a configuration: without one it is refused at once
// with what to do, instead of being queued to fail at its plan.
func TestRunWithoutConfigurationIsRefused(t *testing.T) {
	t.Parallel()
	f := setup(t, 1)
	ws := f.wsIDs[0]
	if _, err := f.runs.Create(f.ctx, f.orgOf[ws], ws, run.CreateOptions{RequireConfiguration: true}); !errors.Is(err, run.ErrNoConfiguration) {
		t.Fatalf("err %v, want ErrNoConfiguration", err)
	}
	if list, err := f.runs.List(f.ctx, f.orgOf[ws], ws, 1<<62, 10); err != nil || len(list) != 0 {
		t.Fatalf("runs after refusal: %v %v", list, err)
	}
}
