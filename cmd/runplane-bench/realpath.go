package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"sync"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runplane/runplane/internal/testkit/lambdatest"
	"github.com/runplane/runplane/internal/testkit/serverproc"
)

var (
	realSamples = flag.Int("real-samples", 20, "single auto-apply runs timed on the real path")
	realPool    = flag.Int("real-pool", 5, "agent pool of the real-path server")
	realServer  = flag.String("runplane", "", "runplane binary for the real-path suite (default: built from ./cmd/runplane)")
)

// realTF replaces its one resource on every run, so every run plans a
// change and applies it.
const realTF = `
resource "terraform_data" "r" {
  input = timestamp()
}
`

// timedRun is one run as the server stamped it and its agents timed it.
type timedRun struct {
	id string
	// createCall is the create request's round trip, as its client timed it.
	createCall                                    time.Duration
	created, planning, planned, applying, applied time.Time
	planFinished, applyClaimed                    time.Time
	// terraform is the sum of its jobs' terraform time, as the agents timed it.
	terraform time.Duration
	// jobs are its jobs' [claimed, finished] spans, as the server stamped them.
	jobs [][2]time.Time
}

// realPathBench measures what a user feels: `runplane server` started as
// `make run` starts it (embedded PostgreSQL, the launcher, sandboxed real
// terraform), driven through the API. Each figure is also given as the
// overhead over terraform's own time: wall time divided by the time the
// agents' terraform commands took, so that it compares across machines.
func realPathBench(ctx context.Context, dir string) error {
	if _, err := exec.LookPath("terraform"); err != nil {
		return errors.New("terraform is not on PATH: the real-path suite runs the real terraform")
	}
	bin := *realServer
	if bin == "" {
		var err error
		if bin, err = serverproc.Build(dir); err != nil {
			return err
		}
	}
	var log bytes.Buffer
	var logMu sync.Mutex
	srv, err := serverproc.Start(bin, []string{"DATABASE_URL=", "RUNPLANE_DATA_DIR=" + dir + "/real", "RUNPLANE_ADDR=127.0.0.1:0",
		"RUNPLANE_ADMIN_TOKEN=bench-admin", fmt.Sprintf("RUNPLANE_AGENT_POOL_SIZE=%d", *realPool)}, lockedWriter{&log, &logMu})
	if err != nil {
		return err
	}
	defer srv.Stop()
	fail := func(err error) error {
		logMu.Lock()
		defer logMu.Unlock()
		return fmt.Errorf("%w\nserver log (tail):\n%s", err, tail(log.Bytes(), 4000))
	}
	c := &client{base: srv.Base, token: "bench-admin", http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	c.must("POST", "/api/v1/organizations", `{"name":"real"}`)
	c.token = c.must("POST", "/api/v1/organizations/real/tokens", `{"description":"bench","role":"admin"}`)["token"].(string)
	fmt.Printf("real path: runplane server as `make run` starts it (launcher pool %d, bwrap sandbox, %s), 1-resource auto-apply runs\n", *realPool, terraformVersion())

	config := string(lambdatest.Tarball(map[string]string{"main.tf": realTF}))
	single := c.workspace("real", `{"name":"single","auto_apply":true}`, config)
	// The first run after start is not counted: it pays for caches
	// (terraform's plugin discovery, the page cache) that every later run finds warm.
	if _, err := c.realRuns([]string{single}); err != nil {
		return fail(err)
	}
	// Each native run is paired with one created through the Terraform
	// Cloud API, as terraform's cloud backend creates it, on the same
	// workspace, so that the two compare within one sitting.
	tfeClient, err := tfe.NewClient(&tfe.Config{Address: srv.Base, Token: c.token, HTTPClient: c.http})
	if err != nil {
		return fail(err)
	}
	var runs, tfeRuns []timedRun
	var nativeCreate, tfeCreate []time.Duration
	for range *realSamples {
		r, err := c.realRuns([]string{single})
		if err != nil {
			return fail(err)
		}
		nativeCreate = append(nativeCreate, r[0].createCall)
		runs = append(runs, r...)
		start := time.Now()
		created, err := tfeClient.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: &tfe.Workspace{ID: single}})
		if err != nil {
			return fail(err)
		}
		tfeCreate = append(tfeCreate, time.Since(start))
		t, err := c.waitApplied([]string{created.ID})
		if err != nil {
			return fail(err)
		}
		tfeRuns = append(tfeRuns, t...)
	}
	var toPlanning, handoff, toApplied, inJobs []time.Duration
	var overhead, overPhases []float64
	for _, r := range runs {
		var held time.Duration
		for _, j := range r.jobs {
			held += j[1].Sub(j[0])
		}
		inJobs = append(inJobs, held-r.terraform)
		toPlanning = append(toPlanning, r.planning.Sub(r.created))
		handoff = append(handoff, r.applyClaimed.Sub(r.planFinished))
		toApplied = append(toApplied, r.applied.Sub(r.created))
		overhead = append(overhead, float64(r.applied.Sub(r.created))/float64(r.terraform))
		phases := r.planned.Sub(r.planning) + r.applied.Sub(r.applying)
		overPhases = append(overPhases, float64(r.applied.Sub(r.created))/float64(phases))
	}
	fmt.Printf("%-58s %9s %9s %s\n", "metric", "p50", "p95", "target")
	fmt.Printf("%-58s %6.1f ms %6.1f ms\n", "created → planning started", ms(pct(toPlanning, 50)), ms(pct(toPlanning, 95)))
	var tfeToPlanning []time.Duration
	for _, r := range tfeRuns {
		tfeToPlanning = append(tfeToPlanning, r.planning.Sub(r.created))
	}
	fmt.Printf("%-58s %6.1f ms %6.1f ms\n", "  the same, created through /api/v2 (go-tfe)", ms(pct(tfeToPlanning, 50)), ms(pct(tfeToPlanning, 95)))
	fmt.Printf("%-58s %6.1f ms %6.1f ms\n", "create call round trip: POST /api/v1/workspaces/{id}/runs", ms(pct(nativeCreate, 50)), ms(pct(nativeCreate, 95)))
	fmt.Printf("%-58s %6.1f ms %6.1f ms\n", "  POST /api/v2/runs (go-tfe Runs.Create)", ms(pct(tfeCreate, 50)), ms(pct(tfeCreate, 95)))
	if err := logPolls(ctx, c, tfeClient, runs[len(runs)-1].id, tfeRuns[len(tfeRuns)-1].id); err != nil {
		return fail(err)
	}
	fmt.Printf("%-58s %6.1f ms %6.1f ms %s\n", "plan finished → apply started", ms(pct(handoff, 50)), ms(pct(handoff, 95)), "p50 ≤ 50 ms")
	fmt.Printf("%-58s %6.1f ms %6.1f ms\n", "agents' own work (jobs held − terraform's time)", ms(pct(inJobs, 50)), ms(pct(inJobs, 95)))
	fmt.Printf("%-58s %6.1f ms %6.1f ms\n", "created → applied", ms(pct(toApplied, 50)), ms(pct(toApplied, 95)))
	fmt.Printf("%-58s %9.3f %9.3f %s\n", "  overhead over terraform's time (single run)", pct(overhead, 50), pct(overhead, 95), "p50 ≤ 1.10")
	fmt.Printf("%-58s %9.3f %9.3f %s\n", "  overhead over the phases' status times (as peers count)", pct(overPhases, 50), pct(overPhases, 95), "OTF 1.04")

	serialWS := c.workspace("real", `{"name":"serial","auto_apply":true}`, config)
	serial, err := c.realRuns(slices.Repeat([]string{serialWS}, 10))
	if err != nil {
		return fail(err)
	}
	span, tf := makespan(serial)
	fmt.Printf("%-58s %6.2f s\n", "10 runs queued on one workspace: makespan", span.Seconds())
	fmt.Printf("%-58s %9.3f %9s %s\n", "  overhead over terraform's time", float64(span)/float64(tf), "", "≤ 1.15")

	var wss []string
	for i := range 50 {
		wss = append(wss, c.workspace("real", fmt.Sprintf(`{"name":"wide-%d","auto_apply":true}`, i), config))
	}
	wide, err := c.realRuns(wss)
	if err != nil {
		return fail(err)
	}
	span, tf = makespan(wide)
	busy, waiting := utilisation(wide)
	fmt.Printf("%-58s %6.2f s\n", fmt.Sprintf("50 runs on 50 workspaces, pool %d: makespan", *realPool), span.Seconds())
	fmt.Printf("%-58s %9.3f\n", "  overhead over terraform's time (makespan × pool / Σ terraform)", float64(span)*float64(*realPool)/float64(tf))
	fmt.Printf("%-58s %8.1f %% %9s %s\n", fmt.Sprintf("  pool utilisation while runs wait (%.1f s)", waiting.Seconds()), 100*busy, "", "≥ 90 %")
	fmt.Println()
	return nil
}

// realRuns creates a run on each workspace, one after another as a user
// would, and waits until all are applied.
func (c *client) realRuns(workspaces []string) ([]timedRun, error) {
	var ids []string
	var calls []time.Duration
	for _, ws := range workspaces {
		start := time.Now()
		r, err := c.do("POST", "/api/v1/workspaces/"+ws+"/runs", `{"message":"bench"}`)
		if err != nil {
			return nil, err
		}
		calls = append(calls, time.Since(start))
		ids = append(ids, r["id"].(string))
	}
	runs, err := c.waitApplied(ids)
	for i := range runs {
		runs[i].createCall = calls[i]
	}
	return runs, err
}

// waitApplied waits until every run is applied and reads its times.
func (c *client) waitApplied(ids []string) ([]timedRun, error) {
	deadline := time.Now().Add(10 * time.Minute)
	out := make([]timedRun, len(ids))
	for i, id := range ids {
		for {
			r, err := c.do("GET", "/api/v1/runs/"+id, "")
			if err != nil {
				return nil, err
			}
			switch r["status"] {
			case "applied":
				if out[i], err = timed(r); err != nil {
					return nil, fmt.Errorf("run %s: %w", id, err)
				}
			case "errored", "canceled", "force_canceled", "discarded", "planned_and_finished":
				return nil, fmt.Errorf("run %s ended %s: %v", id, r["status"], r["error"])
			default:
				if time.Now().After(deadline) {
					return nil, fmt.Errorf("run %s still %s after 10 minutes", id, r["status"])
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			break
		}
	}
	return out, nil
}

func timed(r map[string]any) (timedRun, error) {
	t := timedRun{id: r["id"].(string)}
	at := func(v any) time.Time {
		s, _ := v.(string)
		tm, _ := time.Parse(time.RFC3339Nano, s)
		return tm
	}
	stamps, _ := r["status_timestamps"].(map[string]any)
	t.created, t.planning, t.planned = at(r["created_at"]), at(stamps["planning"]), at(stamps["planned"])
	t.applying, t.applied = at(stamps["applying"]), at(stamps["applied"])
	attempts, _ := r["attempts"].([]any)
	if len(attempts) != 2 {
		return t, fmt.Errorf("%d attempts, want a plan and an apply", len(attempts))
	}
	for _, a := range attempts {
		a := a.(map[string]any)
		claimed, finished := at(a["claimed_at"]), at(a["finished_at"])
		t.jobs = append(t.jobs, [2]time.Time{claimed, finished})
		t.terraform += time.Duration(a["terraform_ms"].(float64)) * time.Millisecond
		if a["phase"] == "plan" {
			t.planFinished = finished
		} else {
			t.applyClaimed = claimed
		}
	}
	if t.terraform <= 0 {
		return t, errors.New("the agents reported no terraform time")
	}
	return t, nil
}

// makespan is first created → last applied, and the terraform time of all.
func makespan(runs []timedRun) (span, terraform time.Duration) {
	first, last := runs[0].created, runs[0].applied
	for _, r := range runs {
		first, last = minTime(first, r.created), maxTime(last, r.applied)
		terraform += r.terraform
	}
	return last.Sub(first), terraform
}

// utilisation is the share of the pool's slots holding a job while work
// waited: from the first run's creation until the last job was claimed.
func utilisation(runs []timedRun) (float64, time.Duration) {
	from, to := runs[0].created, time.Time{}
	for _, r := range runs {
		from = minTime(from, r.created)
		for _, j := range r.jobs {
			to = maxTime(to, j[0])
		}
	}
	var busy time.Duration
	for _, r := range runs {
		for _, j := range r.jobs {
			if s, e := maxTime(j[0], from), minTime(j[1], to); e.After(s) {
				busy += e.Sub(s)
			}
		}
	}
	window := to.Sub(from)
	return float64(busy) / float64(window) / float64(*realPool), window
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func terraformVersion() string {
	out, err := exec.Command("terraform", "version").Output()
	if err != nil {
		return "terraform ?"
	}
	line, _, _ := bytes.Cut(out, []byte("\n"))
	return string(line)
}

func tail(b []byte, n int) []byte { return b[max(0, len(b)-n):] }

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// logPolls times what a terminal polls while a run streams: the log-read
// URL of go-tfe's log reader (offset and limit, as it asks) beside the
// native log endpoint, alternating, on finished plans of the same size.
func logPolls(ctx context.Context, c *client, tc *tfe.Client, nativeRun, tfeRun string) error {
	plan, err := tc.Plans.Read(ctx, tfeRun)
	if err != nil {
		return err
	}
	get := func(url string, auth bool) (time.Duration, error) {
		req, _ := http.NewRequest("GET", url, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		start := time.Now()
		resp, err := c.http.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("GET %s: %d", url, resp.StatusCode)
		}
		return time.Since(start), err
	}
	var native, poll []time.Duration
	for range 100 {
		d, err := get(c.base+"/api/v1/runs/"+nativeRun+"/logs?phase=plan", true)
		if err != nil {
			return err
		}
		native = append(native, d)
		if d, err = get(plan.LogReadURL+"?limit=65536&offset=0", false); err != nil {
			return err
		}
		poll = append(poll, d)
	}
	fmt.Printf("%-58s %6.1f ms %6.1f ms\n", "log read: GET /api/v1/runs/{id}/logs (whole plan log)", ms(pct(native, 50)), ms(pct(native, 95)))
	fmt.Printf("%-58s %6.1f ms %6.1f ms\n", "  a log poll at the plan's log-read URL (go-tfe's reader)", ms(pct(poll, 50)), ms(pct(poll, 95)))
	return nil
}
