package jobs_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/dbcheck"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/jobs"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/workspace"
)

// newOrg adds an organization with limits and n queued runs, each on its own workspace.
func (f *fixture) newOrg(name string, limits org.Limits, n int, opts run.CreateOptions) (uuid.UUID, []uuid.UUID) {
	f.t.Helper()
	o, err := f.orgs.Create(f.ctx, name, org.CreateOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.orgs.SetLimits(f.ctx, name, limits); err != nil {
		f.t.Fatal(err)
	}
	var runs []uuid.UUID
	for i := range n {
		w, err := f.ws.Create(f.ctx, o.ID, workspace.CreateOptions{Name: name + "-" + string(rune('a'+i%26)) + uuid.NewString()[:6]})
		if err != nil {
			f.t.Fatal(err)
		}
		r, err := f.runs.Create(f.ctx, o.ID, w.ID, opts)
		if err != nil {
			f.t.Fatal(err)
		}
		runs = append(runs, r.ID)
	}
	return o.ID, runs
}

func ptr[T any](v T) *T { return &v }

// A quiet organization's run goes before a busy one's backlog; weights
// scale the share; within an organization applies go before plans before
// speculative plans.
func TestClaimServesTheLeastLoadedOrganization(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	busy, _ := f.newOrg("busy", org.Limits{}, 6, run.CreateOptions{})
	for range 3 {
		if j := f.claim(); j.OrganizationID != busy {
			t.Fatalf("only busy has work, claimed %s", j.OrganizationID)
		}
	}
	quiet, quietRuns := f.newOrg("quiet", org.Limits{}, 1, run.CreateOptions{})
	if j := f.claim(); j.OrganizationID != quiet || j.RunID != quietRuns[0] {
		t.Fatalf("quiet organization's run waited behind the backlog: claimed %+v", j)
	}
	// heavy (weight 4) stays below busy's running/weight of 3 for all five
	// of its runs (5/4), so it is served first; then busy again.
	heavy, _ := f.newOrg("heavy", org.Limits{Weight: ptr(4)}, 5, run.CreateOptions{})
	for i := range 5 {
		if j := f.claim(); j.OrganizationID != heavy {
			t.Fatalf("claim %d: heavy (%d/4 running) should go before busy (3/1), got %s", i, i, j.OrganizationID)
		}
	}
	if j := f.claim(); j.OrganizationID != busy {
		t.Fatalf("only busy has work left, got %s", j.OrganizationID)
	}
}

// Among organizations equally loaded, the one whose job has waited longest
// goes first — across more organizations than one claim looks at, so the
// ranking must see every organization with waiting work, not the first few.
func TestClaimTieGoesToTheOldestWaitingJob(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	var order []uuid.UUID
	for i := range 20 {
		_, runs := f.newOrg(fmt.Sprintf("tie-%02d", i), org.Limits{}, 1, run.CreateOptions{})
		order = append(order, runs[0])
	}
	for i, want := range order {
		if j := f.claim(); j.RunID != want {
			t.Fatalf("claim %d took run %s, want the oldest waiting %s", i, j.RunID, want)
		}
	}
}

// Organizations with an empty bucket rank first when idle, but however many
// of them there are, they do not hide an organization that may run.
func TestThrottledOrganizationsDoNotHideOthers(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	for i := range 20 {
		f.newOrg(fmt.Sprintf("throttled-%02d", i), org.Limits{BucketBurst: ptr(1), BucketRefill: ptr(0.001)}, 2, run.CreateOptions{})
	}
	for range 20 { // each spends its one token, and its job ends
		j := f.claim()
		if err := f.agents.Finish(f.ctx, j.ID, j.LeaseToken, jobs.Outcome{Result: "succeeded"}); err != nil {
			t.Fatal(err)
		}
	}
	free, _ := f.newOrg("free", org.Limits{}, 1, run.CreateOptions{})
	if j := f.claim(); j.OrganizationID != free {
		t.Fatalf("claimed %s, want the one organization with tokens", j.OrganizationID)
	}
}

func TestClaimOrderWithinAnOrganization(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	ws := f.workspace("net")
	speculative := f.newRun(f.workspace("spec"), run.CreateOptions{PlanOnly: true})
	first := f.newRun(ws, run.CreateOptions{})
	f.planWithChanges(f.claim())
	if _, err := f.runs.Fire(f.ctx, f.orgID, first.ID, run.EventConfirm, run.Input{}); err != nil {
		t.Fatal(err)
	}
	plan := f.newRun(f.workspace("other"), run.CreateOptions{})
	for _, want := range []struct {
		run   uuid.UUID
		phase jobs.Phase
	}{{first.ID, jobs.PhaseApply}, {plan.ID, jobs.PhasePlan}, {speculative.ID, jobs.PhasePlan}} {
		if j := f.claim(); j.RunID != want.run || j.Phase != want.phase {
			t.Fatalf("claimed run %s %s, want %s %s", j.RunID, j.Phase, want.run, want.phase)
		}
	}
}

// The cap and the bucket hold jobs back, and such a run says so.
func TestCapAndBucketHoldRunsBack(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	capped, runs := f.newOrg("capped", org.Limits{MaxConcurrency: ptr(2)}, 3, run.CreateOptions{})
	f.claim()
	f.claim()
	if _, err := f.agents.Claim(f.ctx, "x"); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("claim past the cap: %v", err)
	}
	waiting := 0
	for _, id := range runs {
		r, _ := f.runs.Get(f.ctx, capped, id)
		if r.Status == run.StatusPlanQueued {
			waiting++
			if r.WaitReason != run.WaitCapacity {
				t.Fatalf("held-back run's wait reason %q", r.WaitReason)
			}
		}
	}
	if waiting != 1 {
		t.Fatalf("%d runs waiting, want 1", waiting)
	}
	slow, _ := f.newOrg("slow", org.Limits{BucketBurst: ptr(1), BucketRefill: ptr(0.001)}, 2, run.CreateOptions{})
	if j := f.claim(); j.OrganizationID != slow {
		t.Fatalf("claimed %s", j.OrganizationID)
	}
	if _, err := f.agents.Claim(f.ctx, "x"); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("claim with an empty bucket: %v", err)
	}
	// What the launcher and the tick size the pool by: neither the capped
	// organization's run nor the one behind an empty bucket counts.
	if n, err := f.agents.Claimable(f.ctx, 100); err != nil || n != 0 {
		t.Fatalf("claimable %d %v: want 0", n, err)
	}
	f.newOrg("free", org.Limits{}, 3, run.CreateOptions{})
	if n, err := f.agents.Claimable(f.ctx, 100); err != nil || n != 3 {
		t.Fatalf("claimable %d %v: want the free organization's 3", n, err)
	}
	if n, err := f.agents.Claimable(f.ctx, 2); err != nil || n != 2 {
		t.Fatalf("claimable %d %v: want the pool's 2", n, err)
	}
}

// Many claimers at once never run an organization past its cap nor spend
// a token twice.
func TestConcurrentClaimersRespectCapAndBucket(t *testing.T) {
	t.Parallel()
	// Sixteen claimers queue on one organization's row; on a loaded machine
	// (the whole suite under -race) the last of the five claims came after
	// the others' 100 ms wait and 1 s grace had run out, and only 4 were
	// counted. Every claimer waits long enough here to see the race out.
	f := setup(t, time.Minute, func(c *jobs.Config) { c.ClaimWait = 3 * time.Second })
	orgID, _ := f.newOrg("crowd", org.Limits{MaxConcurrency: ptr(5), BucketBurst: ptr(8), BucketRefill: ptr(0.001)}, 30, run.CreateOptions{})
	claimAll := func() []jobs.Job {
		var mu sync.Mutex
		var claimed []jobs.Job
		var wg sync.WaitGroup
		var failed atomic.Bool
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j, err := f.agents.Claim(f.ctx, "racer")
				if errors.Is(err, jobs.ErrNoJob) {
					return
				}
				if err != nil {
					failed.Store(true)
					t.Error(err)
					return
				}
				mu.Lock()
				claimed = append(claimed, j)
				mu.Unlock()
			}()
		}
		wg.Wait()
		return claimed
	}
	first := claimAll()
	if len(first) != 5 {
		t.Fatalf("%d claims with a cap of 5", len(first))
	}
	for _, j := range first {
		if err := f.agents.Finish(f.ctx, j.ID, j.LeaseToken, jobs.Outcome{Result: "succeeded"}); err != nil {
			t.Fatal(err)
		}
	}
	// 3 tokens are left of the burst of 8: the cap has room for 5, the bucket allows 3.
	if second := claimAll(); len(second) != 3 {
		t.Fatalf("%d claims with 3 tokens left", len(second))
	}
	o, err := f.orgs.Get(f.ctx, org.Principal{SiteAdmin: true}, "crowd")
	if err != nil || o.Running != 3 || o.ID != orgID || o.Bucket.Tokens >= 1 {
		t.Fatalf("usage %+v %v", o, err)
	}
}

// Agents claiming and finishing at once, all in one organization: no run
// is claimed twice, the cap is never passed, and the organization's running
// count ends equal to its runs' statuses.
func TestClaimsAndFinishesAtOnceKeepTheCount(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	const limit, total = 6, 60
	orgID, _ := f.newOrg("mixed", org.Limits{MaxConcurrency: ptr(limit), BucketBurst: ptr(1000), BucketRefill: ptr(1000.0)}, total, run.CreateOptions{PlanOnly: true})
	var held, most atomic.Int64
	var mu sync.Mutex
	seen := map[uuid.UUID]bool{}
	deadline := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j, err := f.agents.Claim(f.ctx, "racer")
				if errors.Is(err, jobs.ErrNoJob) {
					mu.Lock()
					done := len(seen) == total
					mu.Unlock()
					if done || t.Failed() {
						return
					}
					if time.Now().After(deadline) {
						t.Error("runs left unclaimed for a minute")
						return
					}
					continue
				}
				if errors.Is(err, dbtx.ErrTooManyRetries) {
					continue // the API answers 503 and agents ask again
				}
				if err != nil {
					t.Error(err)
					return
				}
				// Counted after the claim committed and uncounted before the
				// finish starts: never more than the database counts.
				n := held.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				mu.Lock()
				twice := seen[j.RunID]
				seen[j.RunID] = true
				mu.Unlock()
				if twice {
					t.Errorf("run %s claimed twice", j.RunID)
				}
				time.Sleep(time.Millisecond)
				held.Add(-1)
				for {
					err := f.agents.Finish(f.ctx, j.ID, j.LeaseToken, jobs.Outcome{Result: "succeeded"})
					if errors.Is(err, dbtx.ErrTooManyRetries) {
						continue // 503: agents retry their finish
					}
					if err != nil {
						t.Error(err)
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != total || most.Load() > limit {
		t.Fatalf("%d of %d runs claimed; at most %d held at once with a cap of %d", len(seen), total, most.Load(), limit)
	}
	if bad, err := f.check.InvariantOrgLoadMismatch(f.ctx); err != nil || len(bad) != 0 {
		t.Fatalf("running counters off: %+v %v", bad, err)
	}
	if bad, err := f.check.InvariantOrgQueueMismatch(f.ctx); err != nil || len(bad) != 0 {
		t.Fatalf("claim ranking off: %+v %v", bad, err)
	}
	if o, err := f.orgs.Get(f.ctx, org.Principal{SiteAdmin: true}, "mixed"); err != nil || o.ID != orgID || o.Running != 0 || o.Queued != 0 {
		t.Fatalf("usage after all finished: %+v %v", o, err)
	}
}

// A run queued while a claim takes its organization's last waiting job:
// the claim clears the organization's oldest wait, the new run sets it,
// and both write the organization's ranking row, so one of them retries
// rather than both committing with the organization out of the ranking
// and its run waiting until its next run. Bursts of runs race claimers in
// one organization; after each burst nothing more is queued, so a run
// left out would wait for good.
func TestRunQueuedWhileTheLastJobIsClaimedStaysRanked(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	orgID, _ := f.newOrg("racing", org.Limits{BucketBurst: ptr(10000), BucketRefill: ptr(10000.0)}, 0, run.CreateOptions{})
	ws, err := f.ws.Create(f.ctx, orgID, workspace.CreateOptions{Name: "racing-ws"})
	if err != nil {
		t.Fatal(err)
	}
	var claimed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				j, err := f.agents.Claim(f.ctx, "racer")
				if errors.Is(err, jobs.ErrNoJob) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if err := f.agents.Finish(f.ctx, j.ID, j.LeaseToken, jobs.Outcome{Result: "succeeded"}); err != nil {
					t.Error(err)
					return
				}
				claimed.Add(1)
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	created := int64(0)
	for burst := range 60 {
		for range 1 + burst%3 {
			if _, err := f.runs.Create(f.ctx, orgID, ws.ID, run.CreateOptions{PlanOnly: true}); err != nil {
				t.Fatal(err)
			}
			created++
		}
		for deadline := time.Now().Add(3 * time.Second); claimed.Load() < created; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("burst %d: %d of %d runs claimed; the rest wait with their organization out of the ranking: %+v", burst, claimed.Load(), created, rankingOff(f))
			}
		}
	}
	if bad := rankingOff(f); len(bad) != 0 {
		t.Fatalf("claim ranking off: %+v", bad)
	}
}

func rankingOff(f *fixture) []dbcheck.InvariantOrgQueueMismatchRow {
	bad, err := f.check.InvariantOrgQueueMismatch(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return bad
}
