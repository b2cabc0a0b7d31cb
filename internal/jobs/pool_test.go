package jobs_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/jobs"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/workspace"
)

// pooled makes a workspace assigned to a new agent pool of the fixture's
// organization.
func (f *fixture) pooled(name string) (uuid.UUID, org.AgentPool) {
	f.t.Helper()
	pool, err := f.orgs.CreateAgentPool(f.ctx, f.orgID, name+"-agents")
	if err != nil {
		f.t.Fatal(err)
	}
	ws := f.workspace(name)
	if _, err := f.ws.Update(f.ctx, f.orgID, ws, workspace.UpdateOptions{SetAgentPool: true, AgentPoolID: &pool.ID}); err != nil {
		f.t.Fatal(err)
	}
	return ws, pool
}

// A pooled workspace's runs go to its pool's agents only: the platform's
// agents never claim them (nor count them as work for the launcher), and
// another pool's agents get nothing; the pool's agents claim nothing
// else. Pool jobs count in the organization's running jobs, exactly.
func TestAPoolsRunsGoToItsAgentsOnly(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	ws, pool := f.pooled("private")
	_, other := f.pooled("elsewhere")
	pooledRun := f.newRun(ws, run.CreateOptions{})
	if n, err := f.agents.Claimable(f.ctx, 100); err != nil || n != 0 {
		t.Fatalf("claimable for the platform's agents: %d %v, want 0", n, err)
	}
	if _, err := f.agents.Claim(f.ctx, "shared"); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("the platform's agent claimed a pooled run: %v", err)
	}
	if _, err := f.agents.ClaimForPool(f.ctx, "other", f.orgID, other.ID); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("another pool's agent claimed it: %v", err)
	}
	shared := f.newRun(f.workspace("public"), run.CreateOptions{})
	j, err := f.agents.ClaimForPool(f.ctx, "mine", f.orgID, pool.ID)
	if err != nil || j.RunID != pooledRun.ID {
		t.Fatalf("the pool's agent claimed %+v, %v; want run %s", j, err, pooledRun.ID)
	}
	if _, err := f.agents.ClaimForPool(f.ctx, "mine", f.orgID, pool.ID); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("the pool's agent claimed an unpooled run: %v", err)
	}
	if got := f.claim(); got.RunID != shared.ID {
		t.Fatalf("the platform's agent claimed %s, want %s", got.RunID, shared.ID)
	}
	if bad, err := f.check.InvariantOrgLoadMismatch(f.ctx); err != nil || len(bad) != 0 {
		t.Fatalf("running count: %v %v", bad, err)
	}
	if bad, err := f.check.InvariantOrgQueueMismatch(f.ctx); err != nil || len(bad) != 0 {
		t.Fatalf("claim ranking with a pooled run waiting: %+v %v", bad, err)
	}
	if err := f.agents.Finish(f.ctx, j.ID, j.LeaseToken, jobs.Outcome{Result: "succeeded"}); err != nil {
		t.Fatal(err)
	}
	if bad, err := f.check.InvariantOrgLoadMismatch(f.ctx); err != nil || len(bad) != 0 {
		t.Fatalf("running count after a pool job: %v %v", bad, err)
	}
	// A pool in use is not deleted; its workspace moved back to the
	// platform's agents, new runs go there.
	if err := f.orgs.DeleteAgentPool(f.ctx, f.orgID, pool.ID); !errors.Is(err, org.ErrPoolInUse) {
		t.Fatalf("delete a pool in use: %v", err)
	}
	if _, err := f.ws.Update(f.ctx, f.orgID, ws, workspace.UpdateOptions{SetAgentPool: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.orgs.DeleteAgentPool(f.ctx, f.orgID, pool.ID); err != nil {
		t.Fatalf("delete an unused pool: %v", err)
	}
	if _, err := f.orgs.AgentPoolByToken(f.ctx, pool.Token); !errors.Is(err, org.ErrUnauthorized) {
		t.Fatalf("a deleted pool's token: %v", err)
	}
	next := f.newRun(ws, run.CreateOptions{})
	if got := f.claim(); got.RunID != next.ID {
		t.Fatalf("after the move the platform's agent claimed %s, want %s", got.RunID, next.ID)
	}
}

// Many agents of one pool claiming at once never take a run twice.
func TestPoolAgentsClaimEachRunOnce(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	ws, pool := f.pooled("busy")
	want := map[uuid.UUID]bool{}
	for range 8 {
		r := f.newRun(ws, run.CreateOptions{PlanOnly: true})
		want[r.ID] = true
	}
	var mu sync.Mutex
	got := map[uuid.UUID]int{}
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, err := f.agents.ClaimForPool(f.ctx, "agent", f.orgID, pool.ID)
			if errors.Is(err, jobs.ErrNoJob) {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got[j.RunID]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	// A claimer gives up after a second of finding the organization busy,
	// which a loaded race build can take; what it left is claimed after.
	for {
		j, err := f.agents.ClaimForPool(f.ctx, "late", f.orgID, pool.ID)
		if errors.Is(err, jobs.ErrNoJob) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[j.RunID]++
	}
	for id, n := range got {
		if n != 1 || !want[id] {
			t.Fatalf("run %s claimed %d times (one of the pool's: %v)", id, n, want[id])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d of %d speculative runs claimed", len(got), len(want))
	}
}
