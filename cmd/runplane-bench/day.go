package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runplane/runplane/internal/agentapi"
	"github.com/runplane/runplane/internal/dbcheck"
	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/jobs"
	"github.com/runplane/runplane/internal/pgembed"
	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/trigger"
	"github.com/runplane/runplane/internal/workspace"
)

var (
	dayOrgs       = flag.Int("day-orgs", 50_000, "day: organizations")
	dayWorkspaces = flag.Int("day-workspaces", 2_000_000, "day: workspaces")
	dayRuns       = flag.Int("day-runs", 500_000, "day: runs the day has")
	daySample     = flag.Float64("day-sample", 0.04, "day: fraction of the day's runs (and agents) simulated")
	dayLength     = flag.Duration("day-length", 10*time.Minute, "day: wall time the 24 hours are compressed into")
	dayAgents     = flag.Int("day-agents", 3000, "day: agents the full day's pool has (the simulation runs day-sample of them)")
)

// The day's shape. Runs last 5 s to 10 min of terraform, log-uniformly
// (mean ≈ 2 min), 40 % of it planning; 30 % are speculative plans; the
// others apply. Heartbeats every 10 s of the run's own time.
const (
	dayBigOrgs         = 10
	dayBigWorkspaces   = 2_000
	dayMinRun          = 5 * time.Second
	dayMaxRun          = 10 * time.Minute
	dayPlanShare       = 0.4
	daySpeculative     = 0.3
	dayHeartbeat       = 10 * time.Second
	dayChainsPerBigOrg = 33
)

// dayRun is a run the arrival process submits.
type dayRun struct {
	at     time.Duration // since the day began, in the day's own time
	org    int           // rank: 0 is the largest organization
	ws     int           // workspace number in its organization, from 1
	length time.Duration // terraform time, in the day's own time
	plan   bool          // speculative
}

// dayBench simulates a day: the requirement's organizations and
// workspaces, a skewed arrival process with a burst at the top of every
// hour and trigger chains, and simulated agents calling the service
// directly (no HTTP, which this machine's two CPUs could not also carry).
// Time is compressed day-length / 24 h and the runs and agents sampled by
// day-sample: the database sees compression × sample times the real
// day's average rate.
func dayBench(ctx context.Context, cluster *pgembed.Cluster, dir string) error {
	compress := float64(24*time.Hour) / float64(*dayLength)
	n := int(float64(*dayRuns) * *daySample)
	agents := max(1, int(float64(*dayAgents)**daySample))
	fmt.Printf("day: %d organizations, %d workspaces; %d of the day's %d runs (%.0f%%) and %d of its %d agents, 24 h in %s (×%.0f): the database sees %.1f× the day's average rate\n",
		*dayOrgs, *dayWorkspaces, n, *dayRuns, 100**daySample, agents, *dayAgents, *dayLength, compress, compress**daySample)
	databaseURL, err := freshDatabase(ctx, cluster, "bench_day")
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	check := dbcheck.New(pool)
	start := time.Now()
	small := (*dayWorkspaces - dayBigOrgs*dayBigWorkspaces) / (*dayOrgs - dayBigOrgs)
	for _, s := range []struct {
		prefix  string
		orgs    int
		perOrg  int
		comment string
	}{{"big-", dayBigOrgs, dayBigWorkspaces, "large"}, {"org-", *dayOrgs - dayBigOrgs, small, "others"}} {
		if err := check.BenchSeedOrganizations(ctx, dbcheck.BenchSeedOrganizationsParams{Prefix: s.prefix, N: int32(s.orgs)}); err != nil {
			return err
		}
		if err := check.BenchSeedWorkspaces(ctx, dbcheck.BenchSeedWorkspacesParams{PerOrg: int32(s.perOrg), Prefix: s.prefix}); err != nil {
			return err
		}
	}
	if err := check.BenchAnalyze(ctx); err != nil {
		return err
	}
	fmt.Printf("  seeded in %s: %d organizations with %d workspaces, %d with %d\n", time.Since(start).Round(time.Second), dayBigOrgs, dayBigWorkspaces, *dayOrgs-dayBigOrgs, small)

	heartbeat := time.Duration(float64(dayHeartbeat) / compress)
	p, err := platform.Open(ctx, platform.Config{
		DatabaseURL: databaseURL, AdminToken: "bench-admin", AgentPoolSize: agents,
		// Leases are not compressed: a simulated minute is a third of a
		// second, shorter than a pause of this machine.
		Agent:   jobs.Config{Lease: 30 * time.Second, Heartbeat: heartbeat, ClaimWait: time.Second, Poll: 250 * time.Millisecond},
		Storage: platform.Storage{DataDir: dir + "/day"},
	})
	if err != nil {
		return err
	}
	defer p.Close()
	runs := dayArrivals(n, small)
	sim := &daySim{p: p, compress: compress, heartbeat: heartbeat, lengths: map[uuid.UUID]time.Duration{}}
	if err := sim.resolve(ctx, runs); err != nil {
		return err
	}
	edges, err := sim.chains(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("  %d trigger edges: %d chains of three workspaces in each large organization (downstreams apply by themselves)\n", edges, dayChainsPerBigOrg)

	// Counters from here on: the day's own.
	p.Pool.Reset()
	time.Sleep(time.Second)
	if err := check.BenchStatsReset(ctx); err != nil {
		return err
	}
	conflictsBefore := dbtx.Conflicts()
	dayCtx, endDay := context.WithCancel(ctx)
	defer endDay()
	var agentsWG sync.WaitGroup
	for i := range agents {
		agentsWG.Add(1)
		go func() {
			defer agentsWG.Done()
			sim.agent(dayCtx, fmt.Sprintf("sim-%d", i))
		}()
	}
	stopSampling := sampleLoads(ctx, check, 250*time.Millisecond)
	began := time.Now()
	if err := sim.submit(ctx, runs, began); err != nil {
		return err
	}
	// Then until every run is done, or a minute past the day.
	settled := false
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if sim.active.Load() == 0 && sim.unfinished(ctx, check) == 0 {
			settled = true
			break
		}
	}
	wall := time.Since(began)
	endDay()
	agentsWG.Wait()
	loads := stopSampling()
	if sim.failed.Load() != nil {
		return *sim.failed.Load()
	}
	p.Pool.Reset()
	time.Sleep(time.Second)
	return sim.report(ctx, check, loads, wall, agents, settled, dbtx.Conflicts()-conflictsBefore)
}

// dayArrivals draws n runs over 24 h: organizations by a Zipf law (a few
// huge, a long quiet tail), a working-day curve (nights at a third of the
// midday rate) and the first three minutes of every hour at three times
// the rate around them (schedules and merges at the top of the hour).
func dayArrivals(n, smallWorkspaces int) []dayRun {
	r := rand.New(rand.NewPCG(17, 2026))
	zipf := rand.NewZipf(r, 1.1, 1, uint64(*dayOrgs-1))
	minute := make([]float64, 24*60)
	total := 0.0
	for m := range minute {
		h := float64(m) / 60
		w := 1.0 / 3
		if h > 6 && h < 20 {
			w += (1 - w) * math.Sin(math.Pi*(h-6)/14)
		}
		if m%60 < 3 {
			w *= 3
		}
		minute[m] = w
		total += w
	}
	cum := make([]float64, len(minute))
	acc := 0.0
	for m, w := range minute {
		acc += w / total
		cum[m] = acc
	}
	out := make([]dayRun, n)
	for i := range out {
		m := min(sort.SearchFloat64s(cum, r.Float64()), len(cum)-1)
		org := int(zipf.Uint64())
		wss := smallWorkspaces
		if org < dayBigOrgs {
			wss = dayBigWorkspaces
		}
		out[i] = dayRun{
			at:     time.Duration(m)*time.Minute + time.Duration(r.Float64()*float64(time.Minute)),
			org:    org,
			ws:     1 + r.IntN(wss),
			length: time.Duration(float64(dayMinRun) * math.Pow(float64(dayMaxRun)/float64(dayMinRun), r.Float64())),
			plan:   r.Float64() < daySpeculative,
		}
	}
	slices.SortFunc(out, func(a, b dayRun) int { return int(a.at - b.at) })
	return out
}

func dayOrgName(rank int) string {
	if rank < dayBigOrgs {
		return fmt.Sprintf("big-%d", rank+1)
	}
	return fmt.Sprintf("org-%d", rank-dayBigOrgs+1)
}

// daySim is the simulated agents and submitters.
type daySim struct {
	p         *platform.Platform
	compress  float64
	heartbeat time.Duration
	orgs      map[int]uuid.UUID
	wss       map[[2]int]uuid.UUID

	mu      sync.Mutex
	lengths map[uuid.UUID]time.Duration // per run, wall time of terraform
	claims  []time.Time
	busy    time.Duration

	active atomic.Int64 // submissions under way
	failed atomic.Pointer[error]
}

func (s *daySim) fail(err error) {
	s.failed.CompareAndSwap(nil, &err)
}

// resolve looks up the ids of every organization and workspace the day uses.
func (s *daySim) resolve(ctx context.Context, runs []dayRun) error {
	q := dbsqlc.New(s.p.Pool)
	s.orgs, s.wss = map[int]uuid.UUID{}, map[[2]int]uuid.UUID{}
	for _, r := range runs {
		if _, ok := s.orgs[r.org]; !ok {
			o, err := q.OrganizationGetByName(ctx, dayOrgName(r.org))
			if err != nil {
				return err
			}
			s.orgs[r.org] = o.ID
		}
		if _, ok := s.wss[[2]int{r.org, r.ws}]; !ok {
			w, err := q.WorkspaceGetByName(ctx, dbsqlc.WorkspaceGetByNameParams{OrganizationID: s.orgs[r.org], Name: fmt.Sprintf("ws-%d", r.ws)})
			if err != nil {
				return err
			}
			s.wss[[2]int{r.org, r.ws}] = w.ID
		}
	}
	fmt.Printf("  %d organizations and %d workspaces get runs\n", len(s.orgs), len(s.wss))
	return nil
}

// chains links ws-(3k+1) → ws-(3k+2) → ws-(3k+3) in every large
// organization; downstream workspaces apply triggered runs by themselves.
func (s *daySim) chains(ctx context.Context) (int, error) {
	q := dbsqlc.New(s.p.Pool)
	wss := workspace.NewService(s.p.Pool)
	triggers := trigger.NewService(s.p.Pool)
	yes := true
	edges := 0
	for rank := range dayBigOrgs {
		o, err := q.OrganizationGetByName(ctx, dayOrgName(rank))
		if err != nil {
			return edges, err
		}
		id := func(n int) (uuid.UUID, error) {
			w, err := q.WorkspaceGetByName(ctx, dbsqlc.WorkspaceGetByNameParams{OrganizationID: o.ID, Name: fmt.Sprintf("ws-%d", n)})
			return w.ID, err
		}
		for c := range dayChainsPerBigOrg {
			var prev uuid.UUID
			for k := 1; k <= 3; k++ {
				ws, err := id(3*c + k)
				if err != nil {
					return edges, err
				}
				if k > 1 {
					if _, err := wss.Update(ctx, o.ID, ws, workspace.UpdateOptions{AutoApplyRunTrigger: &yes}); err != nil {
						return edges, err
					}
					if _, err := triggers.Create(ctx, o.ID, ws, prev, trigger.OnApply); err != nil {
						return edges, err
					}
					edges++
				}
				prev = ws
			}
		}
	}
	return edges, nil
}

// submit creates every run at its compressed time.
func (s *daySim) submit(ctx context.Context, runs []dayRun, began time.Time) error {
	yes := true
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, r := range runs {
		if d := time.Until(began.Add(time.Duration(float64(r.at) / s.compress))); d > 0 {
			time.Sleep(d)
		}
		if s.failed.Load() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		s.active.Add(1)
		go func() {
			defer func() { <-sem; wg.Done(); s.active.Add(-1) }()
			opts := run.CreateOptions{PlanOnly: r.plan, AutoApply: &yes}
			created, err := s.p.Runs.Create(ctx, s.orgs[r.org], s.wss[[2]int{r.org, r.ws}], opts)
			if err != nil {
				s.fail(fmt.Errorf("create: %w", err))
				return
			}
			s.mu.Lock()
			s.lengths[created.ID] = time.Duration(float64(r.length) / s.compress)
			s.mu.Unlock()
		}()
	}
	wg.Wait()
	if err := s.failed.Load(); err != nil {
		return *err
	}
	return nil
}

// agent claims, heartbeats through the job's terraform time and finishes,
// as an agent does, until the day ends.
func (s *daySim) agent(ctx context.Context, name string) {
	for ctx.Err() == nil {
		j, err := s.p.Jobs.Claim(ctx, name)
		if errors.Is(err, jobs.ErrNoJob) || ctx.Err() != nil {
			continue
		}
		if err != nil {
			s.fail(fmt.Errorf("claim: %w", err))
			return
		}
		began := time.Now()
		s.mu.Lock()
		s.claims = append(s.claims, began)
		length, ok := s.lengths[j.RunID]
		s.mu.Unlock()
		if !ok {
			// A triggered run: the median run.
			length = time.Duration(float64(dayMinRun) * math.Sqrt(float64(dayMaxRun)/float64(dayMinRun)) / s.compress)
		}
		phase := time.Duration(float64(length) * dayPlanShare)
		if j.Phase == jobs.PhaseApply {
			phase = length - phase
		}
		if err := s.work(ctx, j, phase); err != nil {
			s.fail(err)
			return
		}
		s.mu.Lock()
		s.busy += time.Since(began)
		s.mu.Unlock()
	}
}

// work is one job: terraform's time with heartbeats, the plan file of a
// plan that will apply, the finish.
func (s *daySim) work(ctx context.Context, j jobs.Job, phase time.Duration) error {
	for end := time.Now().Add(phase); ; {
		left := time.Until(end)
		if left <= 0 {
			break
		}
		time.Sleep(min(left, s.heartbeat))
		if time.Now().Before(end) {
			if _, err := s.p.Jobs.Heartbeat(ctx, j.ID, j.LeaseToken); err != nil {
				return fmt.Errorf("heartbeat: %w", err)
			}
		}
	}
	out := jobs.Outcome{Result: agentapi.ResultSucceeded, Plan: run.PlanSummary{HasChanges: true, Add: 1}}
	if j.Phase == jobs.PhasePlan && !j.PlanOnly {
		if err := s.p.Jobs.PutArtifact(ctx, j.ID, j.LeaseToken, agentapi.ArtifactPlanFile, []byte("plan")); err != nil {
			return fmt.Errorf("plan file: %w", err)
		}
	}
	// Finishing is not canceled with the day: a finish cut off would leave
	// its run executing.
	if err := s.p.Jobs.Finish(context.WithoutCancel(ctx), j.ID, j.LeaseToken, out); err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	return nil
}

func (s *daySim) unfinished(ctx context.Context, check *dbcheck.Queries) int {
	rows, err := check.BenchRunWaits(ctx)
	if err != nil {
		return -1
	}
	n := 0
	for _, r := range rows {
		if !run.Status(r.Status).Terminal() {
			n++
		}
	}
	return n
}

func (s *daySim) report(ctx context.Context, check *dbcheck.Queries, loads []loadSample, wall time.Duration, agents int, settled bool, retried int64) error {
	waits, err := check.BenchRunWaits(ctx)
	if err != nil {
		return err
	}
	txs, err := check.BenchTransactions(ctx)
	if err != nil {
		return err
	}
	totals, err := check.BenchStatsTotals(ctx)
	if err != nil {
		return err
	}
	top, err := check.BenchStatsTopTables(ctx, 4)
	if err != nil {
		return err
	}
	var all, quiet, large []time.Duration
	unfinished := 0
	bigIDs := map[uuid.UUID]bool{}
	for rank := range dayBigOrgs {
		if id, ok := s.orgs[rank]; ok {
			bigIDs[id] = true
		}
	}
	for _, w := range waits {
		if !run.Status(w.Status).Terminal() {
			unfinished++
		}
		for _, v := range []float64{w.PlanWaitMs, w.ApplyWaitMs} {
			if v < 0 {
				continue
			}
			d := time.Duration(v * float64(time.Millisecond))
			all = append(all, d)
			if bigIDs[w.OrganizationID] {
				large = append(large, d)
			} else {
				quiet = append(quiet, d)
			}
		}
	}
	if len(all) == 0 {
		return errors.New("day: no run was claimed")
	}
	jain, busyByCount := jainOver(loads, 4, float64(agents))
	maxWaiting, backlogged := 0, 0
	for _, l := range loads {
		waiting := 0
		for _, v := range l {
			if v[1] > 0 {
				waiting++
			}
		}
		maxWaiting = max(maxWaiting, waiting)
		if waiting > 0 {
			backlogged++
		}
	}
	s.mu.Lock()
	claims := slices.Clone(s.claims)
	busy := s.busy
	s.mu.Unlock()
	peak := 0
	for i, j := 0, 0; j < len(claims); j++ {
		for claims[j].Sub(claims[i]) >= time.Second {
			i++
		}
		peak = max(peak, j-i+1)
	}
	nRuns := float64(len(waits))
	fmt.Printf("%-62s %12s\n", "figure", "value")
	fmt.Printf("%-62s %12d\n", "runs (submitted + triggered)", len(waits))
	fmt.Printf("%-62s %12s\n", "wall time, submissions to last run done", wall.Round(time.Second))
	fmt.Printf("%-62s %12v\n", "every run done within a minute of the day's end", settled && unfinished == 0)
	fmt.Printf("%-62s %9.1f ms\n", "eligible → claimed p50", ms(pct(all, 50)))
	fmt.Printf("%-62s %9.1f ms\n", "eligible → claimed p99", ms(pct(all, 99)))
	fmt.Printf("%-62s %9.1f ms\n", "eligible → claimed max (requirement: 30 s)", ms(slices.Max(all)))
	fmt.Printf("%-62s %9.1f ms\n", "  the 10 large organizations, p99", ms(pct(large, 99)))
	fmt.Printf("%-62s %9.1f ms\n", "  every other organization, p99", ms(pct(quiet, 99)))
	fmt.Printf("%-62s %12.3f\n", "Jain's index among backlogged organizations (1 s windows)", jain)
	fmt.Printf("%-62s %12d\n", "most organizations waiting at once (250 ms samples)", maxWaiting)
	fmt.Printf("%-62s %11.0f%%\n", "samples with any organization waiting", 100*float64(backlogged)/float64(max(1, len(loads))))
	fmt.Printf("%-62s %10.1f/s\n", "claims per second, mean", float64(len(claims))/wall.Seconds())
	fmt.Printf("%-62s %10d/s\n", "claims per second, busiest second", peak)
	fmt.Printf("%-62s %11.0f%%\n", "pool utilisation (agent time holding a job)", 100*busy.Seconds()/(float64(agents)*wall.Seconds()))
	fmt.Printf("%-62s %11.0f%%\n", "pool utilisation (sampled running ÷ pool)", 100*busyByCount)
	fmt.Printf("%-62s %12.1f\n", "database transactions per run", float64(txs)/nRuns)
	fmt.Printf("%-62s %12d\n", "transactions retried after a serialization failure", retried)
	fmt.Printf("%-62s %12.0f\n", "rows read per run", float64(totals.RowsRead)/nRuns)
	fmt.Printf("%-62s %12.0f\n", "index entries read per run", float64(totals.EntriesRead)/nRuns)
	fmt.Printf("%-62s %12.0f\n", "rows written per run", float64(totals.RowsWritten)/nRuns)
	fmt.Printf("%-62s %12.0f\n", "index entries written per run (at most)", float64(totals.EntriesWritten)/nRuns)
	fmt.Printf("%-62s", "most read tables, rows + entries per run:")
	for _, t := range top {
		fmt.Printf(" %s %.0f", t.TableName, float64(t.Read)/nRuns)
	}
	fmt.Println()
	full := float64(*dayRuns) * float64(txs) / nRuns
	fmt.Printf("%-62s %10.0f/s\n", "the real day's database transactions, 24 h average", full/86400)
	fmt.Printf("\n")
	return nil
}
