package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"sync"
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
)

var (
	poolSize    = flag.Int("pool", 40, "fair share: simulated agents in the pool")
	floodRuns   = flag.Int("flood-runs", 5000, "fair share: runs the flooding organization submits at once")
	smallOrgs   = flag.Int("small-orgs", 99, "fair share: organizations submitting at a steady rate")
	smallRuns   = flag.Int("small-runs", 10, "fair share: runs each small organization submits, one per second")
	jobDuration = flag.Duration("job", 200*time.Millisecond, "fair share: how long a simulated job runs, on average")
	jobSpread   = flag.Float64("job-spread", 0, "fair share: jobs run uniformly between (1-spread) and (1+spread) times -job")
	scaleWS     = flag.Int("scale-workspaces", 2_000_000, "claim cost: workspaces seeded for the large case (0 skips it)")
	scaleOrgs   = flag.Int("scale-orgs", 50_000, "claim cost: organizations seeded for the large case")
)

// fairShareBench runs the same steady small-organization load with and
// without one organization flooding the pool, then the claim cost at scale.
func fairShareBench(ctx context.Context, cluster *pgembed.Cluster, dir string) error {
	fmt.Printf("fair share: pool of %d simulated agents, %s ±%.0f%% per job; %d organizations submit %d runs each, one per second;\n", *poolSize, *jobDuration, 100**jobSpread, *smallOrgs, *smallRuns)
	fmt.Printf("with flood: one more organization submits %d runs at once first\n", *floodRuns)
	quiet, err := fairShareScenario(ctx, cluster, dir, "fair_quiet", false)
	if err != nil {
		return err
	}
	flood, err := fairShareScenario(ctx, cluster, dir, "fair_flood", true)
	if err != nil {
		return err
	}
	// The flood ratio compares against the no-flood wait: a baseline that is
	// itself slow (claims not woken by new work, only by their poll) makes
	// the ratio meaningless, so it fails the suite instead.
	if b := pct(quiet.smallWait, 50); b > brokenBaseline {
		return fmt.Errorf("fair share: the no-flood baseline is broken: small organizations waited p50 %s (p99 %s) with the pool %.0f%% busy and %d transactions retried after serialization failures (%.1f per small run); claims woken by new work take a few ms",
			b.Round(time.Millisecond), pct(quiet.smallWait, 99).Round(time.Millisecond), 100*quiet.busy, quiet.conflicts, float64(quiet.conflicts)/float64(len(quiet.smallWait)))
	}
	fmt.Printf("%-60s %10s %10s\n", "metric", "no flood", "flood")
	fmt.Printf("%-60s %7.2f ms %7.2f ms\n", "small organizations' queue wait p50 (queued → claimed)", ms(pct(quiet.smallWait, 50)), ms(pct(flood.smallWait, 50)))
	fmt.Printf("%-60s %7.2f ms %7.2f ms\n", "small organizations' queue wait p99", ms(pct(quiet.smallWait, 99)), ms(pct(flood.smallWait, 99)))
	fmt.Printf("%-60s %10s %10.2f\n", "  flood / no flood, p50", "", float64(pct(flood.smallWait, 50))/float64(pct(quiet.smallWait, 50)))
	fmt.Printf("%-60s %10s %10.2f\n", "  flood / no flood, p99", "", float64(pct(flood.smallWait, 99))/float64(pct(quiet.smallWait, 99)))
	// Without preemption a run that arrives to a full pool waits for the
	// next job to end: about one turnover, job length ÷ pool size.
	turnover := *jobDuration / time.Duration(*poolSize)
	fmt.Printf("%-60s %10s %10.1f\n", fmt.Sprintf("  flood p50 in pool turnovers (job ÷ pool = %s)", turnover), "", float64(pct(flood.smallWait, 50))/float64(turnover))
	fmt.Printf("%-60s %10s %10.1f\n", "  flood p99 in pool turnovers", "", float64(pct(flood.smallWait, 99))/float64(turnover))
	fmt.Printf("%-60s %10.3f %10.3f\n", "Jain's index, allocation vs weighted max-min fair share", quiet.jain, flood.jain)
	fmt.Printf("%-60s %10s %8.0f/s\n", "flooder throughput while the small organizations ran", "", flood.floodPerSec)
	fmt.Printf("%-60s %9.0f%% %9.0f%%\n", "pool busy (agents holding a job)", 100*quiet.busy, 100*flood.busy)
	fmt.Printf("%-60s %7.2f ms %7.2f ms\n", "claim request → job p50 (includes the long-poll wait)", ms(pct(quiet.claim, 50)), ms(pct(flood.claim, 50)))
	fmt.Printf("%-60s %7.2f ms %7.2f ms\n", "claim request → job p99", ms(pct(quiet.claim, 99)), ms(pct(flood.claim, 99)))
	fmt.Printf("%-60s %10d %10d\n", "transactions retried after a serialization failure", quiet.conflicts, flood.conflicts)
	fmt.Printf("%-60s %10d\n\n", "requests answered 503 contention and retried (both runs)", contended.Load())
	return nil
}

// brokenBaseline is a no-flood queue wait no event-driven claim explains: a
// twentieth of the claims' database poll.
const brokenBaseline = 50 * time.Millisecond

type fairResult struct {
	// conflicts are the transactions retried after a serialization failure.
	conflicts        int64
	smallWait, claim []time.Duration
	jain, busy       float64
	floodPerSec      float64
}

// freshDatabase creates and migrates a database of its own.
func freshDatabase(ctx context.Context, cluster *pgembed.Cluster, name string) (string, error) {
	if out, err := cluster.RunTool(ctx, "createdb", name); err != nil {
		return "", fmt.Errorf("createdb: %w: %s", err, out)
	}
	url := cluster.URL(name)
	return url, migrate(ctx, url)
}

func fairShareScenario(ctx context.Context, cluster *pgembed.Cluster, dir, name string, flood bool) (fairResult, error) {
	var res fairResult
	databaseURL, err := freshDatabase(ctx, cluster, name)
	if err != nil {
		return res, err
	}
	const admin = "bench-admin"
	p, err := platform.Open(ctx, platform.Config{
		DatabaseURL: databaseURL, AdminToken: admin, AgentToken: "bench-agent",
		Agent:   jobs.Config{Lease: 20 * time.Second, Heartbeat: 5 * time.Second, ClaimWait: time.Second, Poll: jobs.DefaultConfig.Poll},
		Storage: platform.Storage{DataDir: dir + "/" + name},
	})
	if err != nil {
		return res, err
	}
	defer p.Close()
	base, stop, err := serve(p.Handler)
	if err != nil {
		return res, err
	}
	defer stop()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	siteAdmin := &client{base: base, token: admin, http: hc}
	// One organization with its token and a workspace; generous buckets so
	// that fair share, not the bucket, divides the pool.
	newOrg := func(orgName string) (*client, string) {
		siteAdmin.must("POST", "/api/v1/organizations", `{"name":"`+orgName+`"}`)
		siteAdmin.must("PATCH", "/api/v1/organizations/"+orgName, `{"bucket_burst":10000,"bucket_refill_per_second":10000}`)
		c := &client{base: base, http: hc, token: siteAdmin.must("POST", "/api/v1/organizations/"+orgName+"/tokens", `{"description":"bench","role":"admin"}`)["token"].(string)}
		return c, c.workspace(orgName, `{"name":"ws"}`, benchConfiguration)
	}

	var mu sync.Mutex
	claimedAt := map[string]time.Time{}
	orgOfRun := map[string]string{}
	var claimTimes []time.Duration
	var floodClaims []time.Time
	if flood {
		// Queued before the agents start, over 50 workspaces by 4 writers.
		fc, _ := newOrg("flood")
		var wss []string
		for i := range 50 {
			wss = append(wss, fc.workspace("flood", fmt.Sprintf(`{"name":"f%d"}`, i), benchConfiguration))
		}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < *floodRuns; i += 4 {
					id := fc.must("POST", "/api/v1/workspaces/"+wss[i%len(wss)]+"/runs", `{"plan_only":true}`)["id"].(string)
					mu.Lock()
					orgOfRun[id] = "flood"
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var agents sync.WaitGroup
	agentClient := &client{base: base, http: hc}
	for range *poolSize {
		agents.Add(1)
		go func() {
			defer agents.Done()
			for runCtx.Err() == nil {
				var j struct {
					ID         string `json:"id"`
					RunID      string `json:"run_id"`
					LeaseToken string `json:"lease_token"`
				}
				start := time.Now()
				if err := agentCall(agentClient, "POST", "/api/agent/v1/claim", "", nil, &j); err != nil {
					continue
				}
				now := time.Now()
				mu.Lock()
				claimedAt[j.RunID] = now
				claimTimes = append(claimTimes, now.Sub(start))
				if orgOfRun[j.RunID] == "flood" {
					floodClaims = append(floodClaims, now)
				}
				mu.Unlock()
				time.Sleep(time.Duration(float64(*jobDuration) * (1 + *jobSpread*(2*rand.Float64()-1))))
				_ = agentCall(agentClient, "POST", "/api/agent/v1/jobs/"+j.ID+"/finish", j.LeaseToken, []byte(`{"result":"succeeded","plan":{"has_changes":false}}`), nil)
			}
		}()
	}

	// Sample every organization's load for the fairness index.
	stopSampling := sampleLoads(ctx, dbcheck.New(p.Pool), 20*time.Millisecond)
	defer stopSampling()

	conflictsBefore := dbtx.Conflicts()
	phaseStart := time.Now()
	created := map[string]time.Time{}
	var smallWG sync.WaitGroup
	for i := range *smallOrgs {
		c, ws := newOrg(fmt.Sprintf("small-%d", i))
		smallWG.Add(1)
		go func() {
			defer smallWG.Done()
			time.Sleep(time.Duration(i) * time.Second / time.Duration(*smallOrgs))
			for range *smallRuns {
				id := c.must("POST", "/api/v1/workspaces/"+ws+"/runs", `{"plan_only":true}`)["id"].(string)
				mu.Lock()
				created[id] = time.Now()
				mu.Unlock()
				time.Sleep(time.Second)
			}
		}()
	}
	smallWG.Wait()
	// Wait until every small run was claimed.
	for deadline := time.Now().Add(2 * time.Minute); ; {
		mu.Lock()
		done := 0
		for id := range created {
			if _, ok := claimedAt[id]; ok {
				done++
			}
		}
		mu.Unlock()
		if done == len(created) {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%d of %d small runs never claimed", len(created)-done, len(created))
		}
		time.Sleep(20 * time.Millisecond)
	}
	phase := time.Since(phaseStart)
	res.conflicts = dbtx.Conflicts() - conflictsBefore
	samples := stopSampling()
	cancel()
	agents.Wait()

	mu.Lock()
	defer mu.Unlock()
	for id, at := range created {
		res.smallWait = append(res.smallWait, claimedAt[id].Sub(at))
	}
	res.claim = claimTimes
	n := 0
	for _, at := range floodClaims {
		if at.After(phaseStart) && at.Before(phaseStart.Add(phase)) {
			n++
		}
	}
	res.floodPerSec = float64(n) / phase.Seconds()
	res.jain, res.busy = jainOver(samples, int(time.Second/(20*time.Millisecond)), float64(*poolSize))
	return res, nil
}

// loadSample is every active organization's load at one moment:
// organization → weight, queued, running.
type loadSample map[string][3]float64

// sampleLoads records every active organization's load every interval
// until stop, which returns the samples (and may be called again).
func sampleLoads(ctx context.Context, check *dbcheck.Queries, every time.Duration) (stop func() []loadSample) {
	var samples []loadSample
	sampleCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for sampleCtx.Err() == nil {
			if rows, err := check.BenchOrganizationLoad(sampleCtx); err == nil {
				l := loadSample{}
				for _, r := range rows {
					l[r.ID.String()] = [3]float64{float64(r.Weight), float64(r.Queued), float64(r.Running)}
				}
				samples = append(samples, l)
			}
			time.Sleep(every)
		}
	}()
	return func() []loadSample {
		cancel()
		<-done
		return samples
	}
}

// jainOver is Jain's index per window of samples of allocation (mean
// running) over the weighted max-min fair share of the pool given each
// active organization's demand (running + queued), averaged over the
// windows, and how busy the pool was.
func jainOver(samples []loadSample, window int, pool float64) (jain, busy float64) {
	var jains []float64
	running, count := 0.0, 0
	for start := 0; start+window <= len(samples); start += window {
		got, fair := map[string]float64{}, map[string]float64{}
		for _, s := range samples[start : start+window] {
			demand := map[string][2]float64{}
			for id, v := range s {
				demand[id] = [2]float64{v[0], v[1] + v[2]}
				got[id] += v[2]
				running += v[2]
			}
			count++
			for id, a := range maxMinShare(demand, pool) {
				fair[id] += a
			}
		}
		var sum, sumSq float64
		k := 0
		for id, f := range fair {
			if f <= 0 {
				continue
			}
			x := got[id] / f
			sum += x
			sumSq += x * x
			k++
		}
		if k > 0 && sumSq > 0 {
			jains = append(jains, sum*sum/(float64(k)*sumSq))
		}
	}
	if count > 0 {
		busy = running / float64(count) / pool
	}
	return mean(jains), busy
}

// maxMinShare is the weighted max-min fair division of capacity among
// demands (weight, demand): water-filling, no one above its demand.
func maxMinShare(demand map[string][2]float64, capacity float64) map[string]float64 {
	ids := make([]string, 0, len(demand))
	for id := range demand {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		return demand[ids[i]][1]/demand[ids[i]][0] < demand[ids[j]][1]/demand[ids[j]][0]
	})
	out := map[string]float64{}
	left := capacity
	weights := 0.0
	for _, id := range ids {
		weights += demand[id][0]
	}
	for _, id := range ids {
		w, d := demand[id][0], demand[id][1]
		a := math.Min(d, left*w/weights)
		out[id] = a
		left -= a
		weights -= w
	}
	return out
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// claimCostAtScale: claim p99 on a database with few workspaces against
// one seeded with millions of workspaces across tens of thousands of
// organizations, the same queued work in both.
func claimCostAtScale(ctx context.Context, cluster *pgembed.Cluster, dir string) error {
	small, err := claimP99(ctx, cluster, dir, "scale_small", 10_000, 100, 100)
	if err != nil {
		return err
	}
	large, err := claimP99(ctx, cluster, dir, "scale_large", *scaleWS, *scaleOrgs, 100)
	if err != nil {
		return err
	}
	fmt.Printf("claim cost: 200 claims (claim + finish), 100 organizations with queued work, direct service calls\n")
	fmt.Printf("%-60s %7.2f ms %7.2f ms\n", "claim p50 / p99 with 10K workspaces, 100 organizations", ms(pct(small, 50)), ms(pct(small, 99)))
	fmt.Printf("%-60s %7.2f ms %7.2f ms\n", fmt.Sprintf("claim p50 / p99 with %d workspaces, %d organizations", *scaleWS, *scaleOrgs), ms(pct(large, 50)), ms(pct(large, 99)))
	fmt.Printf("%-60s %10.2f\n\n", "p99 ratio large / small", float64(pct(large, 99))/float64(pct(small, 99)))
	return nil
}

func claimP99(ctx context.Context, cluster *pgembed.Cluster, dir, name string, workspaces, orgs, waiting int) ([]time.Duration, error) {
	databaseURL, err := freshDatabase(ctx, cluster, name)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	q := dbcheck.New(pool)
	start := time.Now()
	if err := q.BenchSeedOrganizations(ctx, dbcheck.BenchSeedOrganizationsParams{Prefix: "seed-", N: int32(orgs)}); err != nil {
		return nil, err
	}
	if err := q.BenchSeedWorkspaces(ctx, dbcheck.BenchSeedWorkspacesParams{PerOrg: int32(workspaces / orgs), Prefix: "seed-"}); err != nil {
		return nil, err
	}
	fmt.Printf("  seeded %d workspaces in %d organizations in %s\n", workspaces, orgs, time.Since(start).Round(time.Second))
	p, err := platform.Open(ctx, platform.Config{
		DatabaseURL: databaseURL, AdminToken: "bench-admin", AgentToken: "bench-agent",
		Agent:   jobs.Config{Lease: time.Minute, Heartbeat: time.Second, ClaimWait: time.Millisecond, Poll: time.Millisecond},
		Storage: platform.Storage{DataDir: dir + "/" + name},
	})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	// waiting of the seeded organizations get queued runs on their first workspace.
	var runs []struct{ org, ws uuid.UUID }
	for i := 1; i <= waiting; i++ {
		o, err := dbsqlc.New(pool).OrganizationGetByName(ctx, fmt.Sprintf("seed-%d", i*max(1, orgs/waiting)))
		if err != nil {
			return nil, err
		}
		w, err := dbsqlc.New(pool).WorkspaceGetByName(ctx, dbsqlc.WorkspaceGetByNameParams{OrganizationID: o.ID, Name: "ws-1"})
		if err != nil {
			return nil, err
		}
		runs = append(runs, struct{ org, ws uuid.UUID }{o.ID, w.ID})
	}
	// 200 claims: rounds of a queued run for every waiting organization,
	// then claims until that round's runs or the 200 are used up.
	var lat []time.Duration
	for round := 0; len(lat) < 200; round++ {
		for _, r := range runs {
			if _, err := p.Runs.Create(ctx, r.org, r.ws, runCreatePlanOnly); err != nil {
				return nil, err
			}
		}
		for range min(len(runs), 200-len(lat)) {
			start := time.Now()
			j, err := p.Jobs.Claim(ctx, "bench")
			if err != nil {
				return nil, fmt.Errorf("round %d: %w", round, err)
			}
			lat = append(lat, time.Since(start))
			if err := p.Jobs.Finish(ctx, j.ID, j.LeaseToken, jobs.Outcome{Result: agentapi.ResultSucceeded}); err != nil {
				return nil, err
			}
		}
	}
	slices.Sort(lat)
	return lat, nil
}

var runCreatePlanOnly = run.CreateOptions{PlanOnly: true}
