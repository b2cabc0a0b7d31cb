// Command runplane-bench measures Runplane on this machine, in one run so the
// figures compare. Core: admission latency (active run leaves → next run
// plan_queued visible through the API), API run-create throughput, and
// pgbench -N on the same PostgreSQL as the ceiling. State: reading another
// workspace's 500 KB state through the API, writing it, and 50 MB reads, on
// embedded defaults and on S3 + KMS API servers. `make bench` runs it;
// docs/PERFORMANCE.md records the results.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runplane/runplane/db"
	"github.com/runplane/runplane/internal/pgembed"
	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/testkit/lambdatest"
)

var (
	samples     = flag.Int("samples", 300, "admission latency samples")
	clients     = flag.Int("clients", 16, "concurrent API clients for run-create throughput")
	duration    = flag.Duration("duration", 10*time.Second, "length of each throughput phase")
	nWorkspaces = flag.Int("workspaces", 500, "workspaces the create load spreads over")
	suite       = flag.String("suite", "all", "what to measure: all, core, real, state, agents, fairshare (with claimcost), claimcost, day, policy or triggers")
	stateReads  = flag.Int("state-reads", 1000, "500 KB state reads per storage")
	stateWrites = flag.Int("state-writes", 100, "500 KB state writes per storage")
)

func main() {
	flag.Parse()
	if err := bench(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func bench(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "rp-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	// Durable settings (fsync on), as in production and as pgbench measures.
	cluster, err := pgembed.Start(ctx, dir+"/data", pgembed.Options{Durable: true})
	if err != nil {
		return err
	}
	defer func() { _ = cluster.Stop(true) }()

	const admin = "bench-admin"
	p, err := platform.Open(ctx, platform.Config{
		DatabaseURL: cluster.URL("postgres"), AdminToken: admin, Storage: platform.Storage{DataDir: dir},
	})
	if err != nil {
		return err
	}
	defer p.Close()
	if err := db.Migrate(ctx, p.Pool); err != nil {
		return err
	}
	fmt.Printf("machine: %s\n", machine())
	fmt.Printf("database: embedded PostgreSQL, fsync on, SERIALIZABLE transactions; API over loopback HTTP, keep-alive\n\n")
	if *suite == "all" || *suite == "core" {
		if err := core(ctx, cluster, p); err != nil {
			return err
		}
	}
	if *suite == "all" || *suite == "real" {
		if err := realPathBench(ctx, dir); err != nil {
			return err
		}
	}
	if *suite == "all" || *suite == "agents" {
		if err := agentBench(ctx, cluster, dir); err != nil {
			return err
		}
	}
	if *suite == "all" || *suite == "fairshare" {
		if err := fairShareBench(ctx, cluster, dir); err != nil {
			return err
		}
	}
	if (*suite == "all" || *suite == "fairshare" || *suite == "claimcost") && *scaleWS > 0 {
		if err := claimCostAtScale(ctx, cluster, dir); err != nil {
			return err
		}
	}
	if *suite == "all" || *suite == "fairshare" || *suite == "claimcost" {
		if err := claimCostByWaiting(ctx, cluster, dir); err != nil {
			return err
		}
	}
	if *suite == "all" || *suite == "day" {
		if err := dayBench(ctx, cluster, dir); err != nil {
			return err
		}
	}
	if *suite == "all" || *suite == "policy" {
		if err := policyBench(ctx, cluster, dir); err != nil {
			return err
		}
	}
	if *suite == "all" || *suite == "triggers" {
		if err := triggerBench(ctx, cluster, dir); err != nil {
			return err
		}
	}
	if *suite == "all" || *suite == "state" {
		if err := stateBench(ctx, cluster.URL("postgres"), dir); err != nil {
			return err
		}
	}
	return nil
}

func core(ctx context.Context, cluster *pgembed.Cluster, p *platform.Platform) error {
	const admin = "bench-admin"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: p.Handler}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	c := &client{base: "http://" + ln.Addr().String(), token: admin,
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}

	c.must("POST", "/api/v1/organizations", `{"name":"bench"}`)
	c.token = c.must("POST", "/api/v1/organizations/bench/tokens", `{"description":"bench","role":"admin"}`)["token"].(string)
	workspaces := make([]string, *nWorkspaces)
	for i := range workspaces {
		workspaces[i] = c.workspace("bench", fmt.Sprintf(`{"name":"ws-%d"}`, i), benchConfiguration)
	}

	lat, err := admission(c, workspaces)
	if err != nil {
		return err
	}
	createTPS, err := createThroughput(c, workspaces)
	if err != nil {
		return err
	}
	pgTPS, err := pgbench(ctx, cluster)
	if err != nil {
		return err
	}
	fmt.Printf("%-52s %10s\n", "metric", "value")
	fmt.Printf("%-52s %8.2f ms\n", "admission latency p50 (finish → next plan_queued)", ms(pct(lat, 50)))
	fmt.Printf("%-52s %8.2f ms\n", "admission latency p99", ms(pct(lat, 99)))
	fmt.Printf("%-52s %8.0f /s\n", fmt.Sprintf("API run create throughput (%d clients)", *clients), createTPS)
	fmt.Printf("%-52s %8.0f /s\n", fmt.Sprintf("pgbench -N tps (%d clients, same cluster)", *clients), pgTPS)
	fmt.Printf("%-52s %8.2f\n\n", "run creates per pgbench -N transaction", createTPS/pgTPS)
	return nil
}

// admission: the active run of a workspace is canceled; the clock stops when
// the next run reads plan_queued through the API.
func admission(c *client, workspaces []string) ([]time.Duration, error) {
	var out []time.Duration
	for i := range *samples {
		ws := workspaces[i%len(workspaces)]
		first := c.must("POST", "/api/v1/workspaces/"+ws+"/runs", "")["id"].(string)
		second := c.must("POST", "/api/v1/workspaces/"+ws+"/runs", "")["id"].(string)
		start := time.Now()
		c.must("POST", "/api/v1/runs/"+first+"/actions/cancel", "")
		for {
			if c.must("GET", "/api/v1/runs/"+second, "")["status"] == "plan_queued" {
				break
			}
			if time.Since(start) > 30*time.Second {
				return nil, fmt.Errorf("run %s not admitted after 30s", second)
			}
		}
		out = append(out, time.Since(start))
		c.must("POST", "/api/v1/runs/"+second+"/actions/cancel", "")
	}
	return out, nil
}

func createThroughput(c *client, workspaces []string) (float64, error) {
	var done atomic.Int64
	var firstErr error
	var once sync.Once
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	for w := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for time.Now().Before(deadline) {
				ws := workspaces[r.IntN(len(workspaces))]
				if _, err := c.do("POST", "/api/v1/workspaces/"+ws+"/runs", `{"message":"bench"}`); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(done.Load()) / duration.Seconds(), firstErr
}

var tpsRE = regexp.MustCompile(`tps = ([0-9.]+)`)

func pgbench(ctx context.Context, cluster *pgembed.Cluster) (float64, error) {
	if out, err := cluster.RunTool(ctx, "pgbench", "-i", "-s", "10", "-q", "postgres"); err != nil {
		return 0, fmt.Errorf("pgbench -i: %w: %s", err, out)
	}
	out, err := cluster.RunTool(ctx, "pgbench", "-N", "-c", fmt.Sprint(*clients), "-j", "2",
		"-T", fmt.Sprint(int(duration.Seconds())), "postgres")
	if err != nil {
		return 0, fmt.Errorf("pgbench -N: %w: %s", err, out)
	}
	m := tpsRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no tps in pgbench output: %s", out)
	}
	var tps float64
	_, err = fmt.Sscan(string(m[1]), &tps)
	return tps, err
}

type client struct {
	base, token string
	http        *http.Client
}

// do sends one API request; a 503 "contention" answer is retried, as the
// API asks clients to.
func (c *client) do(method, path, body string) (map[string]any, error) {
	var out map[string]any
	err := retryContended(8, func() error {
		var err error
		out, err = c.doOnce(method, path, body)
		return err
	})
	return out, err
}

// contended counts 503 answers (SERIALIZABLE retries exhausted) that the
// benchmark's clients retried.
var contended atomic.Int64

var errContention = errors.New("503 contention")

// retryContended calls call again, with growing pauses, while it answers
// errContention, at most retries more times, counting each retry.
func retryContended(retries int, call func() error) error {
	for attempt := 0; ; attempt++ {
		err := call()
		if !errors.Is(err, errContention) || attempt == retries {
			return err
		}
		contended.Add(1)
		time.Sleep(time.Duration(10<<min(attempt, 5)) * time.Millisecond)
	}
}

func (c *client) doOnce(method, path, body string) (map[string]any, error) {
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusServiceUnavailable {
		return nil, fmt.Errorf("%s %s: %w", method, path, errContention)
	}
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	var out map[string]any
	return out, json.Unmarshal(raw, &out)
}

// benchConfiguration is what the simulated benchmarks' workspaces hold:
// the API creates runs only on a workspace with a configuration.
var benchConfiguration = string(lambdatest.Tarball(map[string]string{"main.tf": "resource \"terraform_data\" \"r\" {}\n"}))

// workspace creates a workspace in org from a JSON body, uploads the
// configuration tarball to it and returns its id.
func (c *client) workspace(org, body, tarball string) string {
	id := c.must("POST", "/api/v1/organizations/"+org+"/workspaces", body)["id"].(string)
	c.must("POST", "/api/v1/workspaces/"+id+"/configuration-versions", tarball)
	return id
}

func (c *client) must(method, path, body string) map[string]any {
	out, err := c.do(method, path, body)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	return out
}

// pct is the p-th percentile of durations or ratios.
func pct[T cmp.Ordered](d []T, p int) T {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`model name\s*:\s*(.*)`).FindSubmatch(b); m != nil {
			model = string(m[1])
		}
	}
	return fmt.Sprintf("%s, %d CPUs", model, runtime.NumCPU())
}
