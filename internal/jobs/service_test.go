package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/agentapi"
	"github.com/runplane/runplane/internal/blob"
	"github.com/runplane/runplane/internal/configversion"
	"github.com/runplane/runplane/internal/dbcheck"
	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/jobs"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/sealed"
	"github.com/runplane/runplane/internal/testkit/pgtest"
	"github.com/runplane/runplane/internal/variable"
	"github.com/runplane/runplane/internal/workspace"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type fixture struct {
	vars   *variable.Service
	t      *testing.T
	ctx    context.Context
	agents *jobs.Service
	runs   *run.Service
	orgs   *org.Service
	ws     *workspace.Service
	orgID  uuid.UUID
	q      *dbsqlc.Queries
	check  *dbcheck.Queries
	// blobs is the folder the sealed objects are stored in.
	blobs string
}

func setup(t *testing.T, lease time.Duration, configure ...func(*jobs.Config)) *fixture {
	t.Helper()
	pool := pgtest.New(t)
	dir := t.TempDir()
	blobs, err := blob.NewFolder(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := envelope.OpenLocalKey(filepath.Join(dir, "key"))
	if err != nil {
		t.Fatal(err)
	}
	objects := sealed.New(blobs, keys)
	ctx := context.Background()
	orgs := org.NewService(pool, "admin")
	o, err := orgs.Create(ctx, "acme", org.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hint := jobs.NewHint()
	runs := run.NewService(pool, run.Config{MaxPlanAttempts: 2, ForceCancelCoolOff: 0}, hint.Notify)
	cfg := jobs.Config{Lease: lease, Heartbeat: lease / 4, ClaimWait: 100 * time.Millisecond, Poll: 20 * time.Millisecond}
	for _, c := range configure {
		c(&cfg)
	}
	vars := variable.NewService(pool, objects)
	return &fixture{
		t: t, ctx: ctx, runs: runs, orgs: orgs, ws: workspace.NewService(pool), orgID: o.ID, q: dbsqlc.New(pool), check: dbcheck.New(pool),
		vars: vars, blobs: filepath.Join(dir, "blobs"),
		agents: jobs.NewService(pool, runs, configversion.NewService(pool, objects), objects, vars, hint, events.NewDispatcher(pool, events.DefaultConfig, nil), cfg),
	}
}

func (f *fixture) workspace(name string) uuid.UUID {
	f.t.Helper()
	w, err := f.ws.Create(f.ctx, f.orgID, workspace.CreateOptions{Name: name})
	if err != nil {
		f.t.Fatal(err)
	}
	return w.ID
}

func (f *fixture) newRun(ws uuid.UUID, opts run.CreateOptions) run.Run {
	f.t.Helper()
	r, err := f.runs.Create(f.ctx, f.orgID, ws, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) claim() jobs.Job {
	f.t.Helper()
	j, err := f.agents.Claim(f.ctx, "test")
	if err != nil {
		f.t.Fatalf("claim: %v", err)
	}
	return j
}

func (f *fixture) status(id uuid.UUID) run.Run {
	f.t.Helper()
	r, err := f.runs.Get(f.ctx, f.orgID, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) planWithChanges(j jobs.Job) {
	f.t.Helper()
	if err := f.agents.PutArtifact(f.ctx, j.ID, j.LeaseToken, agentapi.ArtifactPlanFile, []byte("plan bytes")); err != nil {
		f.t.Fatal(err)
	}
	if err := f.agents.Finish(f.ctx, j.ID, j.LeaseToken, jobs.Outcome{Result: "succeeded", Plan: run.PlanSummary{Add: 2, HasChanges: true}}); err != nil {
		f.t.Fatal(err)
	}
}

// The whole protocol for one run: plan job, logs, plan file, confirm,
// apply job reading that plan file, applied. Stale leases change nothing.
func TestProtocolCarriesARunToApplied(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	r := f.newRun(f.workspace("net"), run.CreateOptions{})
	j := f.claim()
	if j.RunID != r.ID || j.Phase != jobs.PhasePlan || f.status(r.ID).Status != run.StatusPlanning {
		t.Fatalf("claimed %+v", j)
	}
	if _, err := f.agents.Claim(f.ctx, "second"); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("second claim: %v", err)
	}
	stale := uuid.New()
	if _, err := f.agents.Heartbeat(f.ctx, j.ID, stale); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("stale heartbeat: %v", err)
	}
	for _, c := range []struct {
		offset int64
		data   string
		size   int64
		err    error
	}{
		{0, "hello ", 6, nil},
		{0, "hello ", 6, nil}, // retried chunk
		{3, "lo world", 11, nil},
		{20, "gap", 11, jobs.ErrLogGap},
	} {
		size, err := f.agents.AppendLog(f.ctx, j.ID, j.LeaseToken, c.offset, []byte(c.data))
		if !errors.Is(err, c.err) || (err == nil && size != c.size) {
			t.Fatalf("append %q at %d: size %d err %v", c.data, c.offset, size, err)
		}
	}
	if _, err := f.agents.AppendLog(f.ctx, j.ID, stale, 11, []byte("zombie")); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("stale append: %v", err)
	}
	if logs := f.logs(r.ID, jobs.PhasePlan); logs != "hello world" {
		t.Fatalf("logs %q", logs)
	}
	chunks, err := f.q.JobLogChunkList(f.ctx, dbsqlc.JobLogChunkListParams{JobID: j.ID, OrganizationID: f.orgID})
	if err != nil || len(chunks) != 2 {
		t.Fatalf("%d chunks stored (%v)", len(chunks), err)
	}
	for _, c := range chunks {
		if bytes.Contains(c.Data, []byte("hello")) || bytes.Contains(c.Data, []byte("world")) {
			t.Fatal("log chunks are stored in clear")
		}
	}
	if err := f.agents.Finish(f.ctx, j.ID, j.LeaseToken, jobs.Outcome{Result: "succeeded", Plan: run.PlanSummary{HasChanges: true}}); !errors.Is(err, jobs.ErrInvalid) {
		t.Fatalf("plan with changes but no plan file: %v", err)
	}
	f.planWithChanges(j)
	if got := f.status(r.ID); got.Status != run.StatusPlanned || got.Plan == nil || got.Plan.Add != 2 {
		t.Fatalf("after plan: %+v", got)
	}
	// Once the phase ended its log is one sealed object in blob storage.
	if logs := f.logs(r.ID, jobs.PhasePlan); logs != "hello world" {
		t.Fatalf("logs after the phase %q", logs)
	}
	if chunks, err := f.q.JobLogChunkList(f.ctx, dbsqlc.JobLogChunkListParams{JobID: j.ID, OrganizationID: f.orgID}); err != nil || len(chunks) != 0 {
		t.Fatalf("%d chunks left after the phase (%v)", len(chunks), err)
	}
	if err := f.agents.Finish(f.ctx, j.ID, j.LeaseToken, jobs.Outcome{Result: "succeeded"}); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("finishing twice: %v", err)
	}
	if _, err := f.runs.Fire(f.ctx, f.orgID, r.ID, run.EventConfirm, run.Input{}); err != nil {
		t.Fatal(err)
	}
	a := f.claim()
	if a.Phase != jobs.PhaseApply || a.RunID != r.ID {
		t.Fatalf("apply job %+v", a)
	}
	if plan, _, err := f.agents.ArtifactDirect(f.ctx, a.ID, a.LeaseToken, agentapi.ArtifactPlanFile, false); err != nil || string(plan) != "plan bytes" {
		t.Fatalf("apply reads the plan: %q %v", plan, err)
	}
	if err := f.agents.Finish(f.ctx, a.ID, a.LeaseToken, jobs.Outcome{Result: "succeeded"}); err != nil {
		t.Fatal(err)
	}
	if got := f.status(r.ID); got.Status != run.StatusApplied {
		t.Fatalf("after apply: %s", got.Status)
	}
}

// A lost plan agent: the run is queued again for a new agent until the
// attempts run out; the old lease and its credential are dead.
func TestReapedPlanIsRetriedThenErrors(t *testing.T) {
	t.Parallel()
	f := setup(t, 500*time.Millisecond)
	ws := f.workspace("net")
	r := f.newRun(ws, run.CreateOptions{})
	next := f.newRun(ws, run.CreateOptions{})
	first := f.claim()
	if p, err := f.orgs.Authenticate(f.ctx, first.Credential); err != nil || p.RunID == nil || *p.RunID != r.ID {
		t.Fatalf("live job credential: %+v %v", p, err)
	}
	time.Sleep(600 * time.Millisecond)
	if n, err := f.agents.Reap(f.ctx); err != nil || n != 1 {
		t.Fatalf("reap: %d %v", n, err)
	}
	if got := f.status(r.ID); got.Status != run.StatusPlanQueued {
		t.Fatalf("after first reap: %s", got.Status)
	}
	if _, err := f.orgs.Authenticate(f.ctx, first.Credential); !errors.Is(err, org.ErrUnauthorized) {
		t.Fatalf("reaped job's credential still works: %v", err)
	}
	if err := f.agents.Finish(f.ctx, first.ID, first.LeaseToken, jobs.Outcome{Result: "succeeded"}); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("zombie finish: %v", err)
	}
	f.claim()
	time.Sleep(600 * time.Millisecond)
	if _, err := f.agents.Reap(f.ctx); err != nil {
		t.Fatal(err)
	}
	got := f.status(r.ID)
	if got.Status != run.StatusErrored || got.Error == "" {
		t.Fatalf("after the last attempt: %s %q", got.Status, got.Error)
	}
	if f.status(next.ID).Status != run.StatusPlanQueued {
		t.Fatal("the next run was not admitted when the errored run released the workspace")
	}
}

// A lost apply agent: the run errors and the workspace locks for a person.
func TestReapedApplyErrorsAndLocksTheWorkspace(t *testing.T) {
	t.Parallel()
	f := setup(t, 500*time.Millisecond)
	ws := f.workspace("net")
	r := f.newRun(ws, run.CreateOptions{})
	f.planWithChanges(f.claim())
	if _, err := f.runs.Fire(f.ctx, f.orgID, r.ID, run.EventConfirm, run.Input{}); err != nil {
		t.Fatal(err)
	}
	f.claim()
	next := f.newRun(ws, run.CreateOptions{})
	time.Sleep(600 * time.Millisecond)
	if _, err := f.agents.Reap(f.ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.status(r.ID); got.Status != run.StatusErrored {
		t.Fatalf("after reap: %s", got.Status)
	}
	w, err := f.ws.Get(f.ctx, f.orgID, ws)
	if err != nil || !w.Locked || w.LockReason != run.ApplyInterruptedReason {
		t.Fatalf("workspace %+v %v", w, err)
	}
	if got := f.status(next.ID); got.Status != run.StatusPending || got.WaitReason != run.WaitWorkspaceLocked {
		t.Fatalf("next run %s %s", got.Status, got.WaitReason)
	}
}

func TestHeartbeatCarriesCancelAndForceCancel(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	r := f.newRun(f.workspace("net"), run.CreateOptions{})
	j := f.claim()
	if beat, err := f.agents.Heartbeat(f.ctx, j.ID, j.LeaseToken); err != nil || beat.Cancel || beat.Stop {
		t.Fatalf("first beat %+v %v", beat, err)
	}
	if _, err := f.runs.Fire(f.ctx, f.orgID, r.ID, run.EventCancel, run.Input{}); err != nil {
		t.Fatal(err)
	}
	if beat, err := f.agents.Heartbeat(f.ctx, j.ID, j.LeaseToken); err != nil || !beat.Cancel {
		t.Fatalf("beat after cancel %+v %v", beat, err)
	}
	if _, err := f.runs.Fire(f.ctx, f.orgID, r.ID, run.EventForceCancel, run.Input{}); err != nil {
		t.Fatal(err)
	}
	if beat, err := f.agents.Heartbeat(f.ctx, j.ID, j.LeaseToken); err != nil || !beat.Stop {
		t.Fatalf("beat after force-cancel %+v %v", beat, err)
	}
	if _, err := f.agents.Heartbeat(f.ctx, j.ID, j.LeaseToken); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("the job lives on after force-cancel: %v", err)
	}
	if f.status(r.ID).Status != run.StatusForceCanceled {
		t.Fatal("not force-canceled")
	}
}

// Many agents claim at once: every queued run is claimed exactly once.
func TestConcurrentClaimsNeverShareARun(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	const runs, agents = 40, 16
	want := map[uuid.UUID]bool{}
	for i := range runs {
		want[f.newRun(f.workspace("w"+uuid.NewString()[:8]), run.CreateOptions{PlanOnly: i%3 == 0}).ID] = true
	}
	var mu sync.Mutex
	got := map[uuid.UUID]int{}
	var wg sync.WaitGroup
	for range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j, err := f.agents.Claim(f.ctx, "racer")
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
			}
		}()
	}
	wg.Wait()
	if len(got) != runs {
		t.Fatalf("%d runs claimed, want %d", len(got), runs)
	}
	for id, n := range got {
		if n != 1 || !want[id] {
			t.Fatalf("run %s claimed %d times", id, n)
		}
	}
}

func (f *fixture) logs(runID uuid.UUID, phase jobs.Phase) string {
	f.t.Helper()
	var buf bytes.Buffer
	if err := f.agents.Logs(f.ctx, f.orgID, runID, phase, &buf); err != nil {
		f.t.Fatal(err)
	}
	return buf.String()
}

// A phase's log is bounded: appends past MaxLog (and its truncation line)
// are refused, so one run printing without end cannot fill the database.
func TestLogIsCapped(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	f.newRun(f.workspace("net"), run.CreateOptions{})
	j := f.claim()
	chunk := bytes.Repeat([]byte("x"), agentapi.MaxLogChunk)
	var size int64
	for size < agentapi.MaxLog {
		var err error
		if size, err = f.agents.AppendLog(f.ctx, j.ID, j.LeaseToken, size, chunk); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.agents.AppendLog(f.ctx, j.ID, j.LeaseToken, size, chunk); !errors.Is(err, jobs.ErrInvalid) {
		t.Fatalf("append past the cap: %v", err)
	}
	if _, err := f.agents.AppendLog(f.ctx, j.ID, j.LeaseToken, size, []byte("\n[log truncated]\n")); err != nil {
		t.Fatalf("the truncation line: %v", err)
	}
}

// A report the protocol cannot mean is refused and changes nothing
// (negative plan counts); terraform's error text, whatever it holds, is
// cleaned and stored, not refused.
func TestFinishRefusesNegativeCountsAndCleansErrors(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	r := f.newRun(f.workspace("net"), run.CreateOptions{})
	j := f.claim()
	if err := f.agents.PutArtifact(f.ctx, j.ID, j.LeaseToken, agentapi.ArtifactPlanFile, []byte("plan bytes")); err != nil {
		t.Fatal(err)
	}
	err := f.agents.Finish(f.ctx, j.ID, j.LeaseToken, jobs.Outcome{Result: "succeeded", Plan: run.PlanSummary{Add: -1, HasChanges: true}})
	if !errors.Is(err, jobs.ErrInvalid) || f.status(r.ID).Status != run.StatusPlanning {
		t.Fatalf("negative count: %v, run %s", err, f.status(r.ID).Status)
	}
	bad := strings.Repeat("é", 1999) + "\x00" + "\xff" // cut mid-rune at 4000 bytes, a NUL, invalid UTF-8
	if err := f.agents.Finish(f.ctx, j.ID, j.LeaseToken, jobs.Outcome{Result: "failed", Error: bad}); err != nil {
		t.Fatalf("failure with unstorable text: %v", err)
	}
	if got := f.status(r.ID); got.Status != run.StatusErrored || !utf8.ValidString(got.Error) || strings.ContainsRune(got.Error, 0) {
		t.Fatalf("run %s, error %q", got.Status, got.Error)
	}
}

// A log read while its phase ends and the log moves to blob storage sees
// the whole log, never nothing: the chunks go in the transaction that
// records the object, and a reader looks for the chunks first.
func TestLogReadWhileArchivingSeesTheWholeLog(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	for i := range 10 {
		r := f.newRun(f.workspace(fmt.Sprintf("net%d", i)), run.CreateOptions{PlanOnly: true})
		j := f.claim()
		if _, err := f.agents.AppendLog(f.ctx, j.ID, j.LeaseToken, 0, []byte("hello world")); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- f.agents.Finish(f.ctx, j.ID, j.LeaseToken, jobs.Outcome{Result: "succeeded"}) }()
		for finished := false; !finished; {
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				finished = true
			default:
			}
			if logs := f.logs(r.ID, jobs.PhasePlan); logs != "hello world" {
				t.Fatalf("log read during the archive: %q", logs)
			}
		}
	}
}

// A run queued while every claim waits is claimed at once, however the
// runs come (one at a time, or several together while claims are still
// busy with the last): only the in-process hint can wake the claims here,
// their poll being a minute.
func TestEveryQueuedRunWakesAWaitingClaim(t *testing.T) {
	t.Parallel()
	const poll, lost = time.Minute, 3 * time.Second
	f := setup(t, time.Minute, func(c *jobs.Config) { c.Poll, c.ClaimWait = poll, 2*time.Minute })
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	var mu sync.Mutex
	claimedAt := map[uuid.UUID]time.Time{}
	var claimers sync.WaitGroup
	for range 8 {
		claimers.Add(1)
		go func() {
			defer claimers.Done()
			for {
				// Jobs are held, not finished: nothing but a new run touches
				// the organization, so nothing else wakes a claim.
				j, err := f.agents.Claim(ctx, "waiter")
				if err != nil {
					return
				}
				mu.Lock()
				claimedAt[j.RunID] = time.Now()
				mu.Unlock()
			}
		}()
	}
	queuedAt := map[uuid.UUID]time.Time{}
	for burst := range 12 {
		time.Sleep(50 * time.Millisecond) // every claim is waiting again
		var creators sync.WaitGroup
		for c := range 1 + burst%3 {
			creators.Add(1)
			go func() {
				defer creators.Done()
				ws := f.workspace(fmt.Sprintf("b%d-%d", burst, c))
				r, err := f.runs.Create(f.ctx, f.orgID, ws, run.CreateOptions{PlanOnly: true})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				queuedAt[r.ID] = time.Now()
				mu.Unlock()
			}()
		}
		creators.Wait()
	}
	deadline := time.Now().Add(2 * lost)
	for {
		mu.Lock()
		n := len(claimedAt)
		mu.Unlock()
		if n >= len(queuedAt) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	claimers.Wait()
	mu.Lock()
	defer mu.Unlock()
	for id, q := range queuedAt {
		at, ok := claimedAt[id]
		if !ok {
			t.Fatalf("run %s not claimed within %s of the last burst: its wake-up was lost", id, 2*lost)
		}
		if wait := at.Sub(q); wait > lost {
			t.Errorf("run %s waited %s for a claim (poll %s): its wake-up was lost", id, wait, poll)
		}
	}
}

// A phase that printed nothing costs no log object: every finish used to
// write (and fsync) an empty sealed blob. Its log still reads, empty.
func TestSilentPhaseArchivesNoObject(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	r := f.newRun(f.workspace("quiet"), run.CreateOptions{PlanOnly: true})
	j := f.claim()
	if err := f.agents.Finish(f.ctx, j.ID, j.LeaseToken, jobs.Outcome{Result: "succeeded"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.JobLogGet(f.ctx, dbsqlc.JobLogGetParams{JobID: j.ID, OrganizationID: f.orgID}); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("job log object of a silent phase: %v, want none", err)
	}
	if got := f.logs(r.ID, jobs.PhasePlan); got != "" {
		t.Fatalf("log of a silent phase: %q", got)
	}
}

// A finish carries the phase's last output: stored in the finish's own
// transaction after what was appended, a retried finish's tail adds
// nothing twice, and a tail that leaves a gap is refused with the job
// still running. The terraform time it reports is kept, bounded by the
// job's life.
func TestFinishCarriesTheLogTail(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	r := f.newRun(f.workspace("tail"), run.CreateOptions{PlanOnly: true})
	j := f.claim()
	if _, err := f.agents.AppendLog(f.ctx, j.ID, j.LeaseToken, 0, []byte("init\n")); err != nil {
		t.Fatal(err)
	}
	gap := jobs.Outcome{Result: "succeeded", Log: []byte("lost\n"), LogOffset: 9}
	if err := f.agents.Finish(f.ctx, j.ID, j.LeaseToken, gap); !errors.Is(err, jobs.ErrLogGap) {
		t.Fatalf("finish with a gap before its tail: %v, want ErrLogGap", err)
	}
	if st := f.status(r.ID).Status; st != run.StatusPlanning {
		t.Fatalf("after a refused finish the run is %s", st)
	}
	// The tail overlaps what was appended: only the new bytes are kept.
	// An agent cannot claim more terraform time than its job lived.
	tail := jobs.Outcome{Result: "succeeded", Log: []byte("init\nplan\n"), LogOffset: 0, TerraformTime: time.Hour}
	if err := f.agents.Finish(f.ctx, j.ID, j.LeaseToken, tail); err != nil {
		t.Fatal(err)
	}
	if got := f.logs(r.ID, jobs.PhasePlan); got != "init\nplan\n" {
		t.Fatalf("log: %q", got)
	}
	attempts, err := f.agents.Attempts(f.ctx, f.orgID, r.ID)
	if err != nil || len(attempts) != 1 {
		t.Fatalf("attempts: %+v, %v; want one", attempts, err)
	}
	if a := attempts[0]; a.TerraformTime <= 0 || a.TerraformTime > a.FinishedAt.Sub(a.ClaimedAt)+time.Millisecond {
		t.Fatalf("terraform time %s of a job that lived %s", a.TerraformTime, a.FinishedAt.Sub(a.ClaimedAt))
	}
}

// A job's agent gets its workspace's variables, sensitive values opened;
// under a lease that is not the job's it gets nothing.
func TestAJobGetsItsWorkspaceVariables(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	ws := f.workspace("net")
	for _, in := range []variable.Input{
		{Key: "region", Value: "eu-west-1", Category: variable.Terraform},
		{Key: "TOKEN", Value: "s3cr3t-value", Category: variable.Env, Sensitive: true},
	} {
		if _, err := f.vars.Create(f.ctx, f.orgID, ws, in); err != nil {
			t.Fatal(err)
		}
	}
	f.newRun(ws, run.CreateOptions{})
	j := f.claim()
	got, err := f.agents.Variables(f.ctx, j.ID, j.LeaseToken)
	if err != nil || len(got) != 2 {
		t.Fatalf("variables %+v, %v", got, err)
	}
	if got[0].Key != "TOKEN" || got[0].Value != "s3cr3t-value" || !got[0].Sensitive || got[1].Value != "eu-west-1" {
		t.Fatalf("variables %+v", got)
	}
	if _, err := f.agents.Variables(f.ctx, j.ID, uuid.New()); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("a stale lease: %v, want ErrLeaseLost", err)
	}
}

// Logs and plan files expire from the bucket (its lifecycle rule on AWS):
// reading one that is gone says it expired (404), not that storage is
// corrupt (500).
func TestAnExpiredLogOrPlanFileReadsAsExpired(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Minute)
	r := f.newRun(f.workspace("old"), run.CreateOptions{})
	j := f.claim()
	if err := f.agents.PutArtifact(f.ctx, j.ID, j.LeaseToken, agentapi.ArtifactPlanFile, []byte("plan")); err != nil {
		t.Fatal(err)
	}
	done := jobs.Outcome{Result: "succeeded", Log: []byte("init\n"), Plan: run.PlanSummary{Add: 1, HasChanges: true}}
	if err := f.agents.Finish(f.ctx, j.ID, j.LeaseToken, done); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"logs", "runs"} {
		if err := os.RemoveAll(filepath.Join(f.blobs, prefix)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.agents.Logs(f.ctx, f.orgID, r.ID, jobs.PhasePlan, io.Discard); !errors.Is(err, jobs.ErrExpired) {
		t.Fatalf("expired log: %v, want ErrExpired", err)
	}
	if _, err := f.runs.Fire(f.ctx, f.orgID, r.ID, run.EventConfirm, run.Input{}); err != nil {
		t.Fatal(err)
	}
	a := f.claim()
	if _, _, err := f.agents.ArtifactDirect(f.ctx, a.ID, a.LeaseToken, agentapi.ArtifactPlanFile, false); !errors.Is(err, jobs.ErrExpired) {
		t.Fatalf("expired plan file: %v, want ErrExpired", err)
	}
}
