package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
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
)

var claimWaiting = flag.String("claim-waiting", "100,5000,50000", "claim cost: organizations with jobs waiting, one database each, measured interleaved in one run")

// costOps is how many of each operation a level measures; costPool is the
// agent pool the tick counts claimable jobs for.
const (
	costOps  = 200
	costPool = 100
)

// costLevel is one database where a number of organizations have jobs
// waiting, and what its operations cost.
type costLevel struct {
	waiting int
	p       *platform.Platform
	stats   *dbcheck.Queries
	targets []costTarget
	held    []jobs.Job
	lat     map[string][]time.Duration
	cost    map[string]dbcheck.BenchStatsTotalsRow
	top     map[string][]dbcheck.BenchStatsTopTablesRow
	retried map[string]int64
}

type costTarget struct{ org, ws uuid.UUID }

// claimCostByWaiting measures what a claim, a finish, a run create and a
// tick cost against the number of organizations with jobs waiting: one
// database per level, the same organizations in each, the operations of
// all levels interleaved so that the machine's noise falls on all alike.
// Costs are rows and index entries read and written per operation, from
// PostgreSQL's table statistics: what a key-value store would read and
// write, which latency on this machine does not say.
func claimCostByWaiting(ctx context.Context, cluster *pgembed.Cluster, dir string) error {
	var levels []*costLevel
	orgs := 10_000
	for _, f := range strings.Split(*claimWaiting, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("-claim-waiting: %q is not a positive number", f)
		}
		levels = append(levels, &costLevel{waiting: n, lat: map[string][]time.Duration{}, cost: map[string]dbcheck.BenchStatsTotalsRow{}, top: map[string][]dbcheck.BenchStatsTopTablesRow{}, retried: map[string]int64{}})
		orgs = max(orgs, n)
	}
	fmt.Printf("claim cost by organizations with jobs waiting: %d organizations with a workspace each in every database; %d of each operation per level, levels interleaved\n", orgs, costOps)
	for _, l := range levels {
		closeLevel, err := l.open(ctx, cluster, dir, orgs)
		if err != nil {
			return err
		}
		defer closeLevel()
	}
	phases := []struct {
		name string
		op   func(l *costLevel, i int) error
	}{
		{"claim", func(l *costLevel, _ int) error {
			j, err := l.p.Jobs.Claim(ctx, "bench")
			l.held = append(l.held, j)
			return err
		}},
		{"finish", func(l *costLevel, i int) error {
			return l.p.Jobs.Finish(ctx, l.held[i].ID, l.held[i].LeaseToken, jobs.Outcome{Result: agentapi.ResultSucceeded})
		}},
		{"run create", func(l *costLevel, i int) error {
			t := l.targets[i%len(l.targets)]
			_, err := l.p.Runs.Create(ctx, t.org, t.ws, runCreatePlanOnly)
			return err
		}},
		{"tick", func(l *costLevel, _ int) error {
			_, err := l.p.Scheduler.Tick(ctx)
			return err
		}},
	}
	for _, ph := range phases {
		n := costOps
		if ph.name == "tick" {
			// What the operations so far left to the tick (audit entries to
			// seal) is not the tick's steady cost.
			for _, l := range levels {
				for range 100 {
					res, err := l.p.Scheduler.Tick(ctx)
					if err != nil {
						return err
					}
					if res.AuditSealed == 0 {
						break
					}
				}
			}
			n = costOps / 10
		}
		for _, l := range levels {
			l.flushStats()
			if err := l.stats.BenchStatsReset(ctx); err != nil {
				return err
			}
		}
		retried := map[*costLevel]int64{}
		for i := range n {
			for _, l := range levels {
				before := dbtx.Conflicts()
				start := time.Now()
				if err := ph.op(l, i); err != nil {
					return fmt.Errorf("%d waiting: %s %d: %w", l.waiting, ph.name, i, err)
				}
				l.lat[ph.name] = append(l.lat[ph.name], time.Since(start))
				retried[l] += dbtx.Conflicts() - before
			}
		}
		for _, l := range levels {
			l.flushStats()
			c, err := l.stats.BenchStatsTotals(ctx)
			if err != nil {
				return err
			}
			c.RowsRead, c.EntriesRead, c.RowsWritten, c.EntriesWritten = c.RowsRead/int64(n), c.EntriesRead/int64(n), c.RowsWritten/int64(n), c.EntriesWritten/int64(n)
			if l.top[ph.name], err = l.stats.BenchStatsTopTables(ctx, 3); err != nil {
				return err
			}
			l.cost[ph.name], l.retried[ph.name] = c, retried[l]
		}
	}
	fmt.Printf("%-44s", "organizations with jobs waiting")
	for _, l := range levels {
		fmt.Printf(" %10d", l.waiting)
	}
	fmt.Printf(" %12s\n", "last/first")
	row := func(label string, v func(l *costLevel) float64, format string) {
		fmt.Printf("%-44s", label)
		for _, l := range levels {
			fmt.Printf(" "+format, v(l))
		}
		if first := v(levels[0]); first > 0 {
			fmt.Printf(" %12.2f", v(levels[len(levels)-1])/first)
		}
		fmt.Println()
	}
	for _, ph := range phases {
		row(ph.name+" p50 ms", func(l *costLevel) float64 { return ms(pct(l.lat[ph.name], 50)) }, "%10.2f")
		row(ph.name+" p99 ms", func(l *costLevel) float64 { return ms(pct(l.lat[ph.name], 99)) }, "%10.2f")
		row("  rows read / op", func(l *costLevel) float64 { return float64(l.cost[ph.name].RowsRead) }, "%10.0f")
		row("  index entries read / op", func(l *costLevel) float64 { return float64(l.cost[ph.name].EntriesRead) }, "%10.0f")
		row("  rows written / op", func(l *costLevel) float64 { return float64(l.cost[ph.name].RowsWritten) }, "%10.0f")
		row("  index entries written / op (at most)", func(l *costLevel) float64 { return float64(l.cost[ph.name].EntriesWritten) }, "%10.0f")
		row("  transactions retried (all ops)", func(l *costLevel) float64 { return float64(l.retried[ph.name]) }, "%10.0f")
		for _, l := range levels {
			fmt.Printf("  most read at %d waiting, rows + entries / op:", l.waiting)
			for _, t := range l.top[ph.name] {
				fmt.Printf(" %s %d", t.TableName, t.Read/int64(len(l.lat[ph.name])))
			}
			fmt.Println()
		}
	}
	fmt.Println()
	return nil
}

// flushStats has the platform's backends report their counters: a busy
// backend reports at most every few seconds, an exiting one at once.
func (l *costLevel) flushStats() {
	l.p.Pool.Reset()
	time.Sleep(time.Second)
}

// open seeds the level's database: orgs organizations with a workspace
// each, the first waiting of them with plan-only runs queued, enough that
// costOps claims never run out.
func (l *costLevel) open(ctx context.Context, cluster *pgembed.Cluster, dir string, orgs int) (func(), error) {
	name := fmt.Sprintf("cost_%d", l.waiting)
	databaseURL, err := freshDatabase(ctx, cluster, name)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	l.stats = dbcheck.New(pool)
	start := time.Now()
	if err := l.stats.BenchSeedOrganizations(ctx, dbcheck.BenchSeedOrganizationsParams{Prefix: "seed-", N: int32(orgs)}); err != nil {
		pool.Close()
		return nil, err
	}
	if err := l.stats.BenchSeedWorkspaces(ctx, dbcheck.BenchSeedWorkspacesParams{PerOrg: 1, Prefix: "seed-"}); err != nil {
		pool.Close()
		return nil, err
	}
	l.p, err = platform.Open(ctx, platform.Config{
		DatabaseURL: databaseURL, AdminToken: "bench-admin", AgentToken: "bench-agent", AgentPoolSize: costPool,
		Agent:   jobs.Config{Lease: time.Hour, Heartbeat: time.Minute, ClaimWait: time.Millisecond, Poll: time.Millisecond},
		Storage: platform.Storage{DataDir: dir + "/" + name},
	})
	if err != nil {
		pool.Close()
		return nil, err
	}
	closeAll := func() { l.p.Close(); pool.Close() }
	q := dbsqlc.New(pool)
	for i := 1; i <= l.waiting; i++ {
		o, err := q.OrganizationGetByName(ctx, fmt.Sprintf("seed-%d", i))
		if err != nil {
			closeAll()
			return nil, err
		}
		w, err := q.WorkspaceGetByName(ctx, dbsqlc.WorkspaceGetByNameParams{OrganizationID: o.ID, Name: "ws-1"})
		if err != nil {
			closeAll()
			return nil, err
		}
		l.targets = append(l.targets, costTarget{o.ID, w.ID})
	}
	perOrg := (2*costOps + l.waiting - 1) / l.waiting
	work := make(chan costTarget)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				if _, err := l.p.Runs.Create(ctx, t.org, t.ws, runCreatePlanOnly); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range perOrg {
		for _, t := range l.targets {
			work <- t
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		closeAll()
		return nil, err
	}
	if err := l.stats.BenchAnalyze(ctx); err != nil {
		closeAll()
		return nil, err
	}
	fmt.Printf("  %s: %d organizations, %d with %d queued runs each, seeded in %s\n", name, orgs, l.waiting, perOrg, time.Since(start).Round(time.Second))
	return closeAll, nil
}
