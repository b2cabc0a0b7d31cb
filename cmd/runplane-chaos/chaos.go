package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/runplane/runplane/internal/pgembed"
	"github.com/runplane/runplane/internal/testkit/lambdatest"
	"github.com/runplane/runplane/internal/testkit/serverproc"
)

// Config shapes one chaos run.
type Config struct {
	Duration   time.Duration
	Workspaces int
	Binary     string
	Seed       int64
}

// Fault kinds.
const (
	faultAgentKill   = "agent killed (kill -9)"
	faultZombie      = "agent stopped past its lease, then resumed"
	faultDatabase    = "database stopped and started"
	faultServerKill  = "server killed -9 and restarted"
	leaseForTheDrill = 2 * time.Second
)

// Report is what a chaos run found.
type Report struct {
	Seed     int64
	Elapsed  time.Duration
	Runs     int
	ByStatus map[string]int
	Faults   map[string]int
	// AgentKills counts the runs planning and applying when agents were killed.
	KilledPlanning, KilledApplying int
	// Violations.
	TwoHolders   []string
	LostVersions []string
	Stuck        []string
	Unrecorded   []string
	// Interrupted applies whose workspace was locked for a person to verify.
	NeedsVerification int
	Versions          int
	Recovery          []time.Duration
}

// Violations counts broken promises.
func (r Report) Violations() int {
	return len(r.TwoHolders) + len(r.LostVersions) + len(r.Stuck) + len(r.Unrecorded)
}

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos: %s of faults, seed %d\n", r.Elapsed.Round(time.Second), r.Seed)
	fmt.Fprintf(&b, "runs: %d", r.Runs)
	for _, s := range sortedKeys(r.ByStatus) {
		fmt.Fprintf(&b, ", %s %d", s, r.ByStatus[s])
	}
	fmt.Fprintf(&b, "\nstate versions acknowledged: %d\n", r.Versions)
	total := 0
	for _, k := range sortedKeys(r.Faults) {
		fmt.Fprintf(&b, "fault: %-45s %d\n", k, r.Faults[k])
		total += r.Faults[k]
	}
	fmt.Fprintf(&b, "faults injected: %d (runs executing when agents were killed: %d planning, %d applying)\n", total, r.KilledPlanning, r.KilledApplying)
	fmt.Fprintf(&b, "applies interrupted and locked for verification: %d\n", r.NeedsVerification)
	fmt.Fprintf(&b, "violations: %d (two holders %d, lost or altered versions %d, stuck runs %d, applies neither in state nor locked %d)\n",
		r.Violations(), len(r.TwoHolders), len(r.LostVersions), len(r.Stuck), len(r.Unrecorded))
	for _, v := range slices.Concat(r.TwoHolders, r.LostVersions, r.Stuck, r.Unrecorded) {
		fmt.Fprintf(&b, "  %s\n", v)
	}
	if len(r.Recovery) > 0 {
		sort.Slice(r.Recovery, func(i, j int) bool { return r.Recovery[i] < r.Recovery[j] })
		pct := func(p float64) time.Duration {
			return r.Recovery[min(len(r.Recovery)-1, int(p*float64(len(r.Recovery))))]
		}
		fmt.Fprintf(&b, "recovery (fault to the next applied run): p50 %s, p99 %s, max %s over %d faults\n",
			pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), r.Recovery[len(r.Recovery)-1].Round(time.Millisecond), len(r.Recovery))
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

const adminToken = "chaos-admin"

// chaosTF replaces its resource on every run (timestamp() is unknown at
// plan time), so every run applies and writes a state version, with a
// pause in the apply for faults to land in.
const chaosTF = `
resource "terraform_data" "r" {
  input = timestamp()
  provisioner "local-exec" {
    command = "sleep 1"
  }
}
output "at" {
  value = terraform_data.r.output
}
`

// Run drives the platform through cfg.Duration of faults and reports.
func Run(ctx context.Context, cfg Config, logTo io.Writer) (Report, error) {
	rep := Report{Seed: cfg.Seed, ByStatus: map[string]int{}, Faults: map[string]int{}}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0))
	tf, err := exec.LookPath("terraform")
	if err != nil {
		return rep, errors.New("terraform is not on PATH: the chaos drill runs the real terraform")
	}
	parent, err := os.MkdirTemp("", "rp-chaos-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(parent)
	// Traversable by the database's own user when run as root.
	if err := os.Chmod(parent, 0o711); err != nil {
		return rep, err
	}
	if cfg.Binary == "" {
		if cfg.Binary, err = serverproc.Build(parent); err != nil {
			return rep, err
		}
	}
	srv := &server{bin: cfg.Binary, dataDir: filepath.Join(parent, "data"), terraform: tf, log: logTo}
	if err := srv.start(); err != nil {
		return rep, err
	}
	defer srv.Stop()
	c := &client{base: srv.Base, token: adminToken}
	if _, err := c.do("POST", "/api/v1/organizations", `{"name":"chaos"}`); err != nil {
		return rep, err
	}
	tok, err := c.do("POST", "/api/v1/organizations/chaos/tokens", `{"description":"chaos","role":"admin"}`)
	if err != nil {
		return rep, err
	}
	c.token = tok["token"].(string)
	var wss []string
	for i := range cfg.Workspaces {
		w, err := c.do("POST", "/api/v1/organizations/chaos/workspaces", fmt.Sprintf(`{"name":"w%d","auto_apply":true}`, i))
		if err != nil {
			return rep, err
		}
		id := w["id"].(string)
		if _, err := c.post("/api/v1/workspaces/"+id+"/configuration-versions", lambdatest.Tarball(map[string]string{"main.tf": chaosTF})); err != nil {
			return rep, err
		}
		wss = append(wss, id)
	}
	ck := &checker{c: c, rep: &rep, seen: map[string]string{}, wsOf: map[string]string{}, runs: map[string]string{}, status: map[string]string{}}
	start := time.Now()
	nextFault := start.Add(3 * time.Second)
	kinds := []string{faultAgentKill, faultZombie, faultDatabase, faultServerKill, faultAgentKill}
	var pending []time.Time // faults waiting for the next applied run
	lastApplied := 0
	for time.Since(start) < cfg.Duration && ctx.Err() == nil {
		c.base = srv.Base // it moves when the server restarts
		// Keep every workspace busy: a run queued behind each active one.
		for _, ws := range wss {
			if ck.open(ws) < 2 {
				if r, err := c.do("POST", "/api/v1/workspaces/"+ws+"/runs", `{"message":"chaos"}`); err == nil {
					ck.runs[r["id"].(string)] = ws
				}
			}
		}
		if time.Now().After(nextFault) {
			kind := kinds[rng.IntN(len(kinds))]
			if err := inject(ctx, kind, srv, ck, &rep, rng); err != nil {
				return rep, fmt.Errorf("%s: %w", kind, err)
			}
			rep.Faults[kind]++
			pending = append(pending, time.Now())
			nextFault = time.Now().Add(time.Duration(3000+rng.IntN(5000)) * time.Millisecond)
		}
		ck.check(wss)
		if ck.applied > lastApplied {
			for _, at := range pending {
				rep.Recovery = append(rep.Recovery, time.Since(at))
			}
			pending, lastApplied = nil, ck.applied
		}
		time.Sleep(300 * time.Millisecond)
	}
	rep.Elapsed = time.Since(start)
	// No more faults: every run must end, a person verifying interrupted
	// applies as a person would (force-unlock after looking at the state).
	deadline := time.Now().Add(3 * time.Minute)
	for ctx.Err() == nil {
		ck.check(wss)
		open := 0
		for _, ws := range wss {
			open += ck.open(ws)
		}
		if open == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	ck.finish(wss)
	return rep, nil
}

func inject(ctx context.Context, kind string, srv *server, ck *checker, rep *Report, rng *rand.Rand) error {
	switch kind {
	case faultAgentKill, faultZombie:
		agents := srv.Agents()
		if len(agents) == 0 {
			return nil
		}
		pid := agents[rng.IntN(len(agents))]
		if kind == faultZombie {
			_ = syscall.Kill(pid, syscall.SIGSTOP)
			time.Sleep(2*leaseForTheDrill + time.Second)
			_ = syscall.Kill(pid, syscall.SIGCONT)
			return nil
		}
		planning, applying := ck.executing()
		rep.KilledPlanning += planning
		rep.KilledApplying += applying
		return syscall.Kill(pid, syscall.SIGKILL)
	case faultDatabase:
		db, err := pgembed.Running(filepath.Join(srv.dataDir, "postgres"))
		if err != nil {
			return err
		}
		if err := db.Pause(ctx); err != nil {
			return err
		}
		time.Sleep(time.Duration(2000+rng.IntN(4000)) * time.Millisecond)
		return db.Resume(ctx)
	case faultServerKill:
		srv.Kill()
		return srv.start()
	}
	return nil
}

// checker holds what was seen and checks it still holds.
type checker struct {
	c    *client
	rep  *Report
	seen map[string]string // state version id -> sha256
	wsOf map[string]string // state version id -> workspace id
	runs map[string]string // run id -> workspace id
	// status of each run at the last check.
	status  map[string]string
	applied int
}

var holding = map[string]bool{
	"plan_queued": true, "planning": true, "planned": true, "policy_checking": true, "policy_checked": true,
	"policy_override": true, "confirmed": true, "apply_queued": true, "applying": true,
}

var terminal = map[string]bool{
	"applied": true, "planned_and_finished": true, "errored": true, "canceled": true, "force_canceled": true, "discarded": true,
}

func (k *checker) open(ws string) int {
	n := 0
	for id, w := range k.runs {
		if w == ws && !terminal[k.status[id]] {
			n++
		}
	}
	return n
}

func (k *checker) executing() (planning, applying int) {
	for _, s := range k.status {
		switch s {
		case "planning":
			planning++
		case "applying":
			applying++
		}
	}
	return planning, applying
}

// check reads every workspace's runs and state versions; an unanswered
// read (the server or database is down) is skipped, not a violation.
func (k *checker) check(wss []string) {
	applied := 0
	for _, ws := range wss {
		runs, err := k.c.do("GET", "/api/v1/workspaces/"+ws+"/runs?limit=1000", "")
		if err != nil {
			continue
		}
		holders := 0
		for _, it := range runs["items"].([]any) {
			r := it.(map[string]any)
			id, st := r["id"].(string), r["status"].(string)
			k.status[id] = st
			if _, ok := k.runs[id]; !ok {
				k.runs[id] = ws
			}
			if holding[st] {
				holders++
			}
			if st == "applied" {
				applied++
			}
		}
		if holders > 1 {
			k.rep.TwoHolders = append(k.rep.TwoHolders, fmt.Sprintf("workspace %s: %d runs hold it at once", ws, holders))
		}
		versions, err := k.c.do("GET", "/api/v1/workspaces/"+ws+"/state-versions?limit=1000", "")
		if err != nil {
			continue
		}
		listed := map[string]string{}
		for _, it := range versions["items"].([]any) {
			v := it.(map[string]any)
			listed[v["id"].(string)] = v["sha256"].(string)
		}
		for id, sum := range listed {
			if _, ok := k.seen[id]; !ok {
				k.seen[id] = sum
				k.rep.Versions++
			}
		}
		for id, sum := range k.seen {
			if k.wsOf[id] != ws {
				continue
			}
			if got, ok := listed[id]; !ok || got != sum {
				k.rep.LostVersions = append(k.rep.LostVersions, fmt.Sprintf("state version %s of workspace %s: listed %v, sha256 %s, was %s", id, ws, ok, got, sum))
				delete(k.seen, id)
			}
		}
		for id := range listed {
			k.wsOf[id] = ws
		}
		k.verify(ws)
	}
	if applied > k.applied {
		k.applied = applied
	}
}

// verify plays the person an interrupted apply waits for: it unlocks a
// workspace locked for verification (the state it holds is what terraform
// saved; the drill checks no version was lost, not the resources).
func (k *checker) verify(ws string) {
	w, err := k.c.do("GET", "/api/v1/workspaces/"+ws, "")
	if err != nil || w["locked"] != true || !strings.Contains(fmt.Sprint(w["lock_reason"]), "verify state") {
		return
	}
	if _, err := k.c.do("POST", "/api/v1/workspaces/"+ws+"/actions/force-unlock", ""); err == nil {
		k.rep.NeedsVerification++
	}
}

// finish counts runs, finds stuck ones and checks that every applied run
// left a state version and every interrupted apply locked its workspace.
func (k *checker) finish(wss []string) {
	for _, ws := range wss {
		w, err := k.c.do("GET", "/api/v1/workspaces/"+ws, "")
		if err != nil {
			k.rep.Stuck = append(k.rep.Stuck, fmt.Sprintf("workspace %s unreadable at the end: %v", ws, err))
			continue
		}
		runs, _ := k.c.do("GET", "/api/v1/workspaces/"+ws+"/runs?limit=1000", "")
		versions, _ := k.c.do("GET", "/api/v1/workspaces/"+ws+"/state-versions?limit=1000", "")
		byRun := map[string]bool{}
		for _, it := range versions["items"].([]any) {
			if r, ok := it.(map[string]any)["run_id"].(string); ok {
				byRun[r] = true
			}
		}
		for _, it := range runs["items"].([]any) {
			r := it.(map[string]any)
			id, st := r["id"].(string), r["status"].(string)
			k.rep.Runs++
			k.rep.ByStatus[st]++
			switch {
			case !terminal[st] && !(st == "pending" && w["locked"] == true):
				k.rep.Stuck = append(k.rep.Stuck, fmt.Sprintf("run %s of %s is %s (%v)", id, ws, st, r["wait_reason"]))
			case st == "applied" && !byRun[id]:
				k.rep.Unrecorded = append(k.rep.Unrecorded, fmt.Sprintf("run %s of %s applied but left no state version", id, ws))
			}
		}
	}
}

// server is one `runplane server` process on a data folder that outlives it.
type server struct {
	bin, dataDir, terraform string
	log                     io.Writer
	*serverproc.Server
}

func (s *server) start() (err error) {
	s.Server, err = serverproc.Start(s.bin, []string{"DATABASE_URL=", "RUNPLANE_DATA_DIR=" + s.dataDir, "RUNPLANE_ADDR=127.0.0.1:0",
		"RUNPLANE_ADMIN_TOKEN=" + adminToken, "RUNPLANE_AGENT_POOL_SIZE=4",
		"RUNPLANE_AGENT_LEASE=" + leaseForTheDrill.String(), "RUNPLANE_AGENT_HEARTBEAT=400ms", "RUNPLANE_TICK_INTERVAL=300ms",
		"RUNPLANE_TERRAFORM=" + s.terraform}, s.log)
	return err
}

type client struct {
	base, token string
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

func (c *client) do(method, path, body string) (map[string]any, error) {
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	return c.send(req)
}

func (c *client) post(path string, body []byte) (map[string]any, error) {
	req, err := http.NewRequest("POST", c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	return c.send(req)
}

func (c *client) send(req *http.Request) (map[string]any, error) {
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}
