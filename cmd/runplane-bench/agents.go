package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runplane/runplane/db"
	"github.com/runplane/runplane/internal/jobs"
	"github.com/runplane/runplane/internal/pgembed"
	"github.com/runplane/runplane/internal/platform"
)

var (
	claimAgents  = flag.Int("agents", 8, "long-polling simulated agents")
	claimSamples = flag.Int("claim-samples", 300, "claim latency and hand-off samples")
)

// claimed is a job as a simulated agent received it, and when.
type claimed struct {
	id, run, lease string
	at             time.Time
}

// agentBench measures the agent protocol with simulated agents (protocol
// calls, no terraform) against the real database.
func agentBench(ctx context.Context, cluster *pgembed.Cluster, dir string) error {
	// The claim serves every organization, so the agents get a database of
	// their own, free of the runs other suites left queued.
	if out, err := cluster.RunTool(ctx, "createdb", "bench_agents"); err != nil {
		return fmt.Errorf("createdb: %w: %s", err, out)
	}
	databaseURL := cluster.URL("bench_agents")
	if err := migrate(ctx, databaseURL); err != nil {
		return err
	}
	fmt.Printf("agents: %d simulated agents long-polling the claim over HTTP; runs created one at a time\n", *claimAgents)
	fmt.Printf("%-58s %9s %9s\n", "metric", "p50", "p99")
	for _, mode := range []struct {
		name   string
		noHint bool
		poll   time.Duration
		n      int
	}{
		{"eligible → claimed (in-process hint, as runplane server)", false, time.Second, *claimSamples},
		{"eligible → claimed (no hint, 250 ms poll, as on AWS)", true, 250 * time.Millisecond, *claimSamples / 5},
	} {
		claim, handoff, err := measureClaims(ctx, databaseURL, dir, mode.noHint, mode.poll, mode.n)
		if err != nil {
			return err
		}
		fmt.Printf("%-58s %6.2f ms %6.2f ms\n", mode.name, ms(pct(claim, 50)), ms(pct(claim, 99)))
		fmt.Printf("%-58s %6.2f ms %6.2f ms\n", "  queue hand-off: run final → next run claimed", ms(pct(handoff, 50)), ms(pct(handoff, 99)))
	}
	tput, calls, err := lifecycleThroughput(ctx, databaseURL, dir)
	if err != nil {
		return err
	}
	pgTPS, err := pgbench(ctx, cluster)
	if err != nil {
		return err
	}
	fmt.Printf("%-58s %8.0f /s\n", fmt.Sprintf("full lifecycles (plan+apply, %d agents, %s)", *clients, *duration), tput)
	fmt.Printf("%-58s %8.0f /s\n", "  agent protocol calls", calls)
	fmt.Printf("%-58s %8d\n", "  calls answered 503 contention and retried", contended.Load())
	fmt.Printf("%-58s %8.0f /s\n", fmt.Sprintf("pgbench -N tps (%d clients, same cluster)", *clients), pgTPS)
	fmt.Printf("%-58s %8.3f\n\n", "lifecycles per pgbench -N transaction", tput/pgTPS)
	return nil
}

func migrate(ctx context.Context, databaseURL string) error {
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	return db.Migrate(ctx, pool)
}

// benchPlatform opens a platform on the shared cluster with an agent token
// and serves it; it returns the admin client, the base URL and a stop func.
func benchPlatform(ctx context.Context, databaseURL, dir, orgName string, noHint bool, poll time.Duration) (*client, func(), error) {
	const admin, agentToken = "bench-admin", "bench-agent"
	cfg := jobs.DefaultConfig
	cfg.Poll = poll
	p, err := platform.Open(ctx, platform.Config{
		DatabaseURL: databaseURL, AdminToken: admin, AgentToken: agentToken, Agent: cfg, NoClaimHint: noHint,
		Storage: platform.Storage{DataDir: dir + "/" + orgName},
	})
	if err != nil {
		return nil, nil, err
	}
	base, stopServer, err := serve(p.Handler)
	if err != nil {
		p.Close()
		return nil, nil, err
	}
	c := &client{base: base, token: admin, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	c.must("POST", "/api/v1/organizations", `{"name":"`+orgName+`"}`)
	// One organization does all the work here: a generous bucket, so that the
	// protocol is measured rather than the default rate limit (50 claims/s).
	c.must("PATCH", "/api/v1/organizations/"+orgName, `{"bucket_burst":10000,"bucket_refill_per_second":10000}`)
	c.token = c.must("POST", "/api/v1/organizations/"+orgName+"/tokens", `{"description":"bench","role":"admin"}`)["token"].(string)
	return c, func() { stopServer(); p.Close() }, nil
}

// agentCall is one agent protocol request, retried on 503 like the real agent.
func agentCall(c *client, method, path, lease string, body []byte, out any) error {
	return retryContended(5, func() error { return agentCallOnce(c, method, path, lease, body, out) })
}

func agentCallOnce(c *client, method, path, lease string, body []byte, out any) error {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer bench-agent")
	if lease != "" {
		req.Header.Set("X-Runplane-Lease", lease)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNoContent {
		return errNoJob
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		return fmt.Errorf("%s %s: %w", method, path, errContention)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

var errNoJob = errors.New("no job")

// longPoll runs simulated agents that claim jobs and hand them to out.
func longPoll(ctx context.Context, c *client, n int, out chan<- claimed) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				var j struct {
					ID         string `json:"id"`
					RunID      string `json:"run_id"`
					LeaseToken string `json:"lease_token"`
				}
				err := agentCall(c, "POST", "/api/agent/v1/claim", "", nil, &j)
				if err != nil {
					continue
				}
				out <- claimed{id: j.ID, run: j.RunID, lease: j.LeaseToken, at: time.Now()}
			}
		}()
	}
	return &wg
}

func finishPlan(c *client, j claimed) error {
	return agentCall(c, "POST", "/api/agent/v1/jobs/"+j.id+"/finish", j.lease, []byte(`{"result":"succeeded","plan":{"has_changes":false}}`), nil)
}

// measureClaims: eligible → claimed, and hand-off (finish of the running
// run → claim of the next run queued on the same workspace).
func measureClaims(ctx context.Context, databaseURL, dir string, noHint bool, poll time.Duration, samples int) (claim, handoff []time.Duration, err error) {
	name := fmt.Sprintf("claims-%v", noHint)
	c, stop, err := benchPlatform(ctx, databaseURL, dir, name, noHint, poll)
	if err != nil {
		return nil, nil, err
	}
	defer stop()
	pollCtx, cancel := context.WithCancel(ctx)
	handed := make(chan claimed, 64)
	wg := longPoll(pollCtx, c, *claimAgents, handed)
	defer func() { cancel(); wg.Wait() }()
	next := func(run string) (claimed, error) {
		select {
		case j := <-handed:
			if j.run != run {
				return j, fmt.Errorf("claimed run %s, expected %s", j.run, run)
			}
			return j, nil
		case <-time.After(30 * time.Second):
			return claimed{}, fmt.Errorf("run %s not claimed within 30s", run)
		}
	}
	for i := range samples {
		ws := c.workspace(name, fmt.Sprintf(`{"name":"ws-%d"}`, i), benchConfiguration)
		// Eligible → claimed: the create admits the run (plan_queued) in its own transaction.
		start := time.Now()
		first := c.must("POST", "/api/v1/workspaces/"+ws+"/runs", "")["id"].(string)
		j, err := next(first)
		if err != nil {
			return nil, nil, err
		}
		claim = append(claim, j.at.Sub(start))
		// Hand-off: a second run waits behind the first; finishing the first admits it.
		second := c.must("POST", "/api/v1/workspaces/"+ws+"/runs", "")["id"].(string)
		start = time.Now()
		if err := finishPlan(c, j); err != nil {
			return nil, nil, err
		}
		j2, err := next(second)
		if err != nil {
			return nil, nil, err
		}
		handoff = append(handoff, j2.at.Sub(start))
		if err := finishPlan(c, j2); err != nil {
			return nil, nil, err
		}
	}
	return claim, handoff, nil
}

// lifecycleThroughput drives auto-apply runs through plan and apply with
// simulated agents: claim, heartbeat, a log chunk, the plan file, finish.
func lifecycleThroughput(ctx context.Context, databaseURL, dir string) (runsPerSec, callsPerSec float64, err error) {
	const name = "lifecycle"
	c, stop, err := benchPlatform(ctx, databaseURL, dir, name, false, time.Second)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	var workspaces []string
	for i := range *nWorkspaces {
		workspaces = append(workspaces, c.workspace(name, fmt.Sprintf(`{"name":"ws-%d","auto_apply":true}`, i), benchConfiguration))
	}
	for _, ws := range workspaces {
		c.must("POST", "/api/v1/workspaces/"+ws+"/runs", "")
	}
	var applied, calls atomic.Int64
	var firstErr error
	var once sync.Once
	fail := func(err error) { once.Do(func() { firstErr = err }) }
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				var j struct {
					ID          string `json:"id"`
					WorkspaceID string `json:"workspace_id"`
					Phase       string `json:"phase"`
					LeaseToken  string `json:"lease_token"`
				}
				if err := agentCall(c, "POST", "/api/agent/v1/claim", "", []byte(`{"agent":"bench"}`), &j); err != nil {
					if !errors.Is(err, errNoJob) {
						fail(err)
					}
					continue
				}
				path := "/api/agent/v1/jobs/" + j.ID
				steps := []struct {
					method, path string
					body         []byte
				}{
					{"POST", path + "/heartbeat", nil},
					{"PUT", path + "/logs?offset=0", []byte("terraform output\n")},
				}
				finish := []byte(`{"result":"succeeded"}`)
				if j.Phase == "plan" {
					steps = append(steps, struct {
						method, path string
						body         []byte
					}{"PUT", path + "/artifacts/plan-file", bytes.Repeat([]byte("p"), 4096)})
					finish = []byte(`{"result":"succeeded","plan":{"add":1,"has_changes":true}}`)
				}
				for _, s := range steps {
					if err := agentCall(c, s.method, s.path, j.LeaseToken, s.body, nil); err != nil {
						fail(err)
						return
					}
				}
				if err := agentCall(c, "POST", path+"/finish", j.LeaseToken, finish, nil); err != nil {
					fail(err)
					return
				}
				calls.Add(int64(len(steps) + 2))
				if j.Phase == "apply" {
					applied.Add(1)
					// Keep the workspace's queue going.
					if _, err := c.do("POST", "/api/v1/workspaces/"+j.WorkspaceID+"/runs", ""); err != nil {
						fail(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	return float64(applied.Load()) / duration.Seconds(), float64(calls.Load()) / duration.Seconds(), firstErr
}
