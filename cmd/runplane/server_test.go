package main

// End-to-end tests: the real `runplane server` binary with its agent
// launcher, real agent processes and the real terraform binary, driven
// through the API. Crash tests kill, stop and resume agent processes.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/testkit/awstest"
	"github.com/runplane/runplane/internal/testkit/pgtest"
	"github.com/runplane/runplane/internal/testkit/serverproc"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rp-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binary = filepath.Join(dir, "runplane")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building runplane: %v\n%s", err, out)
		os.Exit(2)
	}
	code := pgtest.Main(m)
	awstest.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	adminSecret = "e2e-admin"
	agentSecret = "e2e-agent"
)

type server struct {
	t     *testing.T
	base  string
	token string // the organization admin's
	pool  *pgxpool.Pool
	orgID uuid.UUID
	log   *lockedBuffer
	// dataDir is the server's RUNPLANE_DATA_DIR.
	dataDir string
	// client is what requests go through (nil: http.DefaultClient).
	client *http.Client
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// launch runs `runplane server` with short leases and ticks, terraform (or
// a wrapper) as its agents' terraform, and env on top, and waits until it
// listens. At cleanup its process group is killed, or, when graceful, it
// gets SIGTERM so that it stops the embedded database it started.
func launch(t *testing.T, terraform string, graceful bool, env ...string) (string, *exec.Cmd, *lockedBuffer) {
	t.Helper()
	if _, err := exec.LookPath("terraform"); err != nil {
		t.Fatal("terraform is not on PATH: the end-to-end tests run the real terraform binary")
	}
	cmd := exec.Command(binary, "server")
	cmd.Env = append(os.Environ(), "RUNPLANE_ADDR=127.0.0.1:0",
		"RUNPLANE_ADMIN_TOKEN="+adminSecret, "RUNPLANE_AGENT_TOKEN="+agentSecret, "RUNPLANE_AGENT_POOL_SIZE=3",
		"RUNPLANE_AGENT_LEASE=2s", "RUNPLANE_AGENT_HEARTBEAT=400ms", "RUNPLANE_TICK_INTERVAL=300ms",
		"RUNPLANE_TERRAFORM="+terraform,
	)
	if filepath.IsAbs(terraform) {
		// A test's wrapper keeps its marks beside it.
		cmd.Env = append(cmd.Env, "RUNPLANE_AGENT_SANDBOX_BIND="+filepath.Dir(terraform))
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if graceful {
			_ = cmd.Process.Signal(syscall.SIGTERM)
		} else {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		_ = cmd.Wait()
	})
	log := &lockedBuffer{}
	select {
	case base := <-serverproc.Listening(stderr, log):
		return base, cmd, log
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not start:\n%s", log)
	}
	return "", nil, nil
}

// signIn creates organization acme as the site admin and takes an admin
// token of it.
func (s *server) signIn() {
	s.t.Helper()
	s.token = adminSecret
	s.do("POST", "/api/v1/organizations", `{"name":"acme"}`, 201)
	s.token = s.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"e2e","role":"admin"}`, 201)["token"].(string)
}

// waitForLog waits until the run's log of phase holds text.
func (s *server) waitForLog(runID, phase, text string) {
	s.t.Helper()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(s.logs(runID, phase), text); {
		if time.Now().After(deadline) {
			s.t.Fatalf("the %s log never showed %q:\n%s", phase, text, s.logs(runID, phase))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startServer runs `runplane server` on a database of its own, with extra
// environment variables env, signed in as the admin of organization acme.
func startServer(t *testing.T, terraform string, env ...string) *server {
	t.Helper()
	return startServerWith(t, nil, terraform, env...)
}

// startServerWith is startServer with requests going through client (nil:
// http.DefaultClient).
func startServerWith(t *testing.T, client *http.Client, terraform string, env ...string) *server {
	t.Helper()
	pool := pgtest.New(t)
	dataDir := t.TempDir()
	base, _, log := launch(t, terraform, false,
		append([]string{"DATABASE_URL=" + pool.Config().ConnString(), "RUNPLANE_DATA_DIR=" + dataDir}, env...)...)
	s := &server{t: t, base: base, pool: pool, log: log, dataDir: dataDir, client: client}
	s.signIn()
	p, err := org.NewService(pool, adminSecret).Authenticate(context.Background(), s.token)
	if err != nil {
		t.Fatal(err)
	}
	s.orgID = p.OrgID
	return s
}

func (s *server) request(method, path string, body io.Reader, want int) []byte {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.base+path, body)
	req.Header.Set("Authorization", "Bearer "+s.token)
	client := s.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		s.t.Fatalf("%s %s: %d, want %d: %s\nserver log:\n%s", method, path, resp.StatusCode, want, raw, s.log)
	}
	return raw
}

func (s *server) do(method, path, body string, want int) map[string]any {
	s.t.Helper()
	var out map[string]any
	if raw := s.request(method, path, strings.NewReader(body), want); len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			s.t.Fatalf("%s %s: %s", method, path, raw)
		}
	}
	return out
}

// workspace creates a workspace with a configuration of the given files.
func (s *server) workspace(name string, autoApply bool, files map[string]string) string {
	s.t.Helper()
	id := s.do("POST", "/api/v1/organizations/acme/workspaces", fmt.Sprintf(`{"name":%q,"auto_apply":%v}`, name, autoApply), 201)["id"].(string)
	s.request("POST", "/api/v1/workspaces/"+id+"/configuration-versions", bytes.NewReader(tarGz(s.t, files)), 201)
	return id
}

func (s *server) run(ws, body string) string {
	s.t.Helper()
	return s.do("POST", "/api/v1/workspaces/"+ws+"/runs", body, 201)["id"].(string)
}

// wait polls a run until its status is one of want.
func (s *server) wait(runID string, timeout time.Duration, want ...string) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := s.do("GET", "/api/v1/runs/"+runID, "", 200)
		for _, w := range want {
			if r["status"] == w {
				return r
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("run %s is %v (%v), want %v after %s\nserver log:\n%s", runID, r["status"], r["error"], want, timeout, s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) logs(runID, phase string) string {
	return string(s.request("GET", "/api/v1/runs/"+runID+"/logs?phase="+phase, nil, 200))
}

// jobs lists a run's jobs, oldest first.
func (s *server) jobs(runID string) []dbsqlc.Job {
	s.t.Helper()
	jobs, err := dbsqlc.New(s.pool).JobListByRun(context.Background(), dbsqlc.JobListByRunParams{RunID: uuid.MustParse(runID), OrganizationID: s.orgID})
	if err != nil {
		s.t.Fatal(err)
	}
	return jobs
}

// agentPID waits for the run's latest job to be claimed and returns the agent's pid.
func (s *server) agentPID(runID string, jobs int) int {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if js := s.jobs(runID); len(js) >= jobs {
			name := js[jobs-1].Agent
			pid, err := strconv.Atoi(name[strings.LastIndex(name, "/")+1:])
			if err != nil {
				s.t.Fatalf("agent name %q has no pid", name)
			}
			return pid
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no job %d for run %s\n%s", jobs, runID, s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tarGz(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

const networkTF = `
resource "terraform_data" "net" {
  input = "10.0.0.0/16"
}

output "cidr" {
  value = terraform_data.net.output
}
`

// slowTerraform is terraform behind a wrapper that, once armed, sleeps
// before the next plan: a plan long enough to cancel or to kill its agent
// during. The plan after it (a new agent's) runs at once. arm returns a
// function that waits until a plan is in that sleep.
func slowTerraform(t *testing.T) (path string, arm func() (sleeping func())) {
	t.Helper()
	real, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatal("terraform is not on PATH")
	}
	dir := t.TempDir()
	mark := filepath.Join(dir, "slow-plan")
	path = filepath.Join(dir, "terraform")
	script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = plan ] && [ -f %q ]; then rm -f %q; sleep 60; fi\nexec %q \"$@\"\n", mark, mark, real)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, func() func() {
		if err := os.WriteFile(mark, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return func() {
			deadline := time.Now().Add(time.Minute)
			for {
				if _, err := os.Stat(mark); os.IsNotExist(err) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatal("no plan reached the slow wrapper within a minute")
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// A run goes plan → confirm → apply with the real terraform; the state
// version is recorded against it, logs are readable, and the run queued
// behind it starts by itself when it finishes.
func TestRunPlansConfirmsAndApplies(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	ws := s.workspace("network", false, map[string]string{"main.tf": networkTF})
	first := s.run(ws, `{"message":"first"}`)
	planned := s.wait(first, time.Minute, "planned")
	if plan := planned["plan"].(map[string]any); plan["add"] != float64(1) || plan["has_changes"] != true {
		t.Fatalf("plan summary %v", plan)
	}
	second := s.run(ws, `{"message":"second"}`)
	if r := s.do("GET", "/api/v1/runs/"+second, "", 200); r["status"] != "pending" || r["wait_reason"] != "workspace_busy" {
		t.Fatalf("second run %v %v", r["status"], r["wait_reason"])
	}
	s.do("POST", "/api/v1/runs/"+first+"/actions/confirm", "", 200)
	s.wait(first, time.Minute, "applied")
	cur := s.do("GET", "/api/v1/workspaces/"+ws+"/current-state-version", "", 200)
	if cur["run_id"] != first {
		t.Fatalf("state version written by %v, want run %s", cur["run_id"], first)
	}
	if outs := s.do("GET", "/api/v1/workspaces/"+ws+"/outputs", "", 200)["items"].([]any); len(outs) != 1 || outs[0].(map[string]any)["value"] != "10.0.0.0/16" {
		t.Fatalf("outputs %v", outs)
	}
	if l := s.logs(first, "plan"); !strings.Contains(l, "Plan: 1 to add, 0 to change, 0 to destroy") || strings.Contains(l, "Warning") {
		t.Fatalf("plan log:\n%s", l)
	}
	if l := s.logs(first, "apply"); !strings.Contains(l, "Apply complete! Resources: 1 added") {
		t.Fatalf("apply log:\n%s", l)
	}
	// The second run started by itself and, with nothing to change, finished.
	if r := s.wait(second, time.Minute, "planned_and_finished"); r["plan"].(map[string]any)["has_changes"] != false {
		t.Fatalf("second run %v", r)
	}
}

// Auto-apply needs no confirm; a plan-only run plans beside a run that
// holds the workspace; cancel stops a long plan and the next run starts;
// discard of a planned run starts the next one too.
func TestAutoApplyPlanOnlyCancelAndDiscard(t *testing.T) {
	t.Parallel()
	tf, slow := slowTerraform(t)
	s := startServer(t, tf)
	auto := s.workspace("auto", true, map[string]string{"main.tf": networkTF})
	s.wait(s.run(auto, ""), time.Minute, "applied")

	ws := s.workspace("network", false, map[string]string{"main.tf": networkTF})
	sleeping := slow()
	long := s.run(ws, `{"message":"long plan"}`)
	sleeping()
	speculative := s.run(ws, `{"plan_only":true}`)
	s.wait(speculative, time.Minute, "planned_and_finished")
	if r := s.do("GET", "/api/v1/runs/"+long, "", 200); r["status"] != "planning" {
		t.Fatalf("the long plan is %v while the plan-only run finished", r["status"])
	}
	queued := s.run(ws, `{"message":"queued"}`)
	s.do("POST", "/api/v1/runs/"+long+"/actions/cancel", "", 200)
	start := time.Now()
	s.wait(long, 30*time.Second, "canceled")
	t.Logf("cancel took %s", time.Since(start))
	s.wait(queued, time.Minute, "planned")
	next := s.run(ws, "")
	s.do("POST", "/api/v1/runs/"+queued+"/actions/discard", "", 200)
	s.wait(queued, 10*time.Second, "discarded")
	s.wait(next, time.Minute, "planned")
}

// kill -9 of the agent mid-plan: the lease expires, the run is queued
// again, and a new agent completes it.
func TestAgentKilledMidPlanIsReplaced(t *testing.T) {
	t.Parallel()
	tf, slow := slowTerraform(t)
	s := startServer(t, tf)
	ws := s.workspace("network", false, map[string]string{"main.tf": networkTF})
	sleeping := slow()
	r := s.run(ws, "")
	sleeping()
	if err := syscall.Kill(s.agentPID(r, 1), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.wait(r, time.Minute, "planned")
	jobs := s.jobs(r)
	if len(jobs) != 2 || jobs[0].Status != "lost" || jobs[1].Status != "finished" {
		t.Fatalf("jobs %+v", jobs)
	}
}

const slowApplyTF = `
resource "terraform_data" "first" {
  input = "created before the crash"
}

# Terraform persists state during an apply when a resource completes 20 s
# or more after the last save: this one does, then the next one hangs.
resource "terraform_data" "second" {
  input = terraform_data.first.output
  provisioner "local-exec" {
    command = "sleep 21"
  }
}

resource "terraform_data" "slow" {
  input = terraform_data.second.output
  provisioner "local-exec" {
    command = "sleep 61"
  }
}
`

// kill -9 of the agent mid-apply: the run errors, the workspace locks with
// the reason, and the state Terraform persisted during the apply is intact
// and current.
func TestAgentKilledMidApplyLocksTheWorkspace(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	ws := s.workspace("network", false, map[string]string{"main.tf": slowApplyTF})
	r := s.run(ws, "")
	s.wait(r, time.Minute, "planned")
	s.do("POST", "/api/v1/runs/"+r+"/actions/confirm", "", 200)
	s.wait(r, time.Minute, "applying")
	pid := s.agentPID(r, 2)
	// Terraform persists state about every 20 s during an apply; wait for it.
	deadline := time.Now().Add(45 * time.Second)
	for {
		if v := s.do("GET", "/api/v1/workspaces/"+ws, "", 200); v["current_state_version_id"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("terraform persisted no state during the apply\n%s", s.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Nothing the agent started outlives it: terraform, its local-exec
	// shell and the shell's sleep go with it.
	for deadline := time.Now().Add(10 * time.Second); ; {
		out, _ := exec.Command("pgrep", "-f", "sleep 61").Output()
		if len(out) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes outlived the killed agent: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := s.wait(r, 30*time.Second, "errored")
	if !strings.Contains(got["error"].(string), "lease expired") {
		t.Fatalf("error %q", got["error"])
	}
	w := s.do("GET", "/api/v1/workspaces/"+ws, "", 200)
	if w["locked"] != true || w["lock_reason"] != "apply interrupted: verify state" {
		t.Fatalf("workspace %v", w)
	}
	cur := s.do("GET", "/api/v1/workspaces/"+ws+"/current-state-version", "", 200)
	state := s.request("GET", "/api/v1/state-versions/"+cur["id"].(string)+"/download", nil, 200)
	if !strings.Contains(string(state), "created before the crash") {
		t.Fatalf("persisted state lacks the resource created before the crash:\n%s", state)
	}
	// Until a person unlocks the workspace, nobody else may take its state;
	// unlocking releases the dead agent's state lock with it.
	s.request("LOCK", "/api/v1/workspaces/"+ws+"/state", strings.NewReader(`{"ID":"operator"}`), 423)
	s.do("POST", "/api/v1/workspaces/"+ws+"/actions/force-unlock", "", 200)
	s.request("LOCK", "/api/v1/workspaces/"+ws+"/state", strings.NewReader(`{"ID":"operator"}`), 200)
}

// A zombie agent (stopped past its lease, then resumed) is fenced: a new
// agent finished the run meanwhile, and nothing the zombie tries changes
// the run, its logs or the state.
func TestZombieAgentChangesNothing(t *testing.T) {
	t.Parallel()
	tf, slow := slowTerraform(t)
	s := startServer(t, tf)
	ws := s.workspace("network", false, map[string]string{"main.tf": networkTF})
	sleeping := slow()
	r := s.run(ws, "")
	sleeping()
	zombie := s.agentPID(r, 1)
	if err := syscall.Kill(zombie, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	s.wait(r, time.Minute, "planned")
	before := s.do("GET", "/api/v1/runs/"+r, "", 200)
	logsBefore := s.logs(r, "plan")
	versionsBefore := s.do("GET", "/api/v1/workspaces/"+ws+"/state-versions", "", 200)
	old := s.jobs(r)[0]
	if err := syscall.Kill(zombie, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// The zombie's own calls, made with its lease, are refused.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/heartbeat", ""},
		{"PUT", "/logs?offset=0", "zombie output"},
		{"PUT", "/artifacts/plan-file", "zombie plan"},
		{"POST", "/finish", `{"result":"failed","error":"zombie"}`},
	} {
		req, _ := http.NewRequest(c.method, s.base+"/api/agent/v1/jobs/"+old.ID.String()+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+agentSecret)
		req.Header.Set("X-Runplane-Lease", old.LeaseToken.String())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict {
			t.Errorf("zombie %s %s: %d, want 409", c.method, c.path, resp.StatusCode)
		}
	}
	// The resumed agent finds its lease gone and exits without reporting.
	deadline := time.Now().Add(20 * time.Second)
	for syscall.Kill(zombie, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the zombie agent %d is still running\n%s", zombie, s.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	after := s.do("GET", "/api/v1/runs/"+r, "", 200)
	if after["status"] != before["status"] || fmt.Sprint(after["plan"]) != fmt.Sprint(before["plan"]) || after["error"] != before["error"] {
		t.Fatalf("run changed: %v -> %v", before, after)
	}
	if l := s.logs(r, "plan"); l != logsBefore {
		t.Fatal("plan log changed after the zombie resumed")
	}
	if v := s.do("GET", "/api/v1/workspaces/"+ws+"/state-versions", "", 200); fmt.Sprint(v) != fmt.Sprint(versionsBefore) {
		t.Fatal("state versions changed after the zombie resumed")
	}
}

func remoteState(name, base, ws string) string {
	return fmt.Sprintf(`
data "terraform_remote_state" %q {
  backend = "http"
  config = {
    address = "%s/api/v1/workspaces/%s/state"
  }
}
`, name, base, ws)
}

// A diamond a → b → c, a → c with the real terraform and
// terraform_remote_state: one apply of a yields exactly one run of b and
// one of c; c plans after b applied and reads both new outputs. Then a
// failing b cancels c's triggered run.
func TestTriggerDiamondWithTerraform(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	ws := map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		ws[n] = s.do("POST", "/api/v1/organizations/acme/workspaces", fmt.Sprintf(`{"name":%q,"auto_apply":true,"auto_apply_run_trigger":true}`, n), 201)["id"].(string)
	}
	s.do("PATCH", "/api/v1/workspaces/"+ws["a"], `{"remote_state_consumers":["`+ws["b"]+`","`+ws["c"]+`"]}`, 200)
	s.do("PATCH", "/api/v1/workspaces/"+ws["b"], `{"remote_state_consumers":["`+ws["c"]+`"]}`, 200)
	for _, e := range [][2]string{{"a", "b"}, {"b", "c"}, {"a", "c"}} {
		s.do("POST", "/api/v1/workspaces/"+ws[e[1]]+"/triggers", `{"upstream_workspace_id":"`+ws[e[0]]+`"}`, 201)
	}
	upload := func(name, tf string) {
		s.request("POST", "/api/v1/workspaces/"+ws[name]+"/configuration-versions", bytes.NewReader(tarGz(t, map[string]string{"main.tf": tf})), 201)
	}
	aTF := func(v string) string {
		return fmt.Sprintf("resource \"terraform_data\" \"v\" {\n  input = %q\n}\n\noutput \"a\" {\n  value = terraform_data.v.output\n}\n", v)
	}
	upload("a", aTF("a-1"))
	upload("b", remoteState("a", s.base, ws["a"])+`
resource "terraform_data" "v" {
  input = "${data.terraform_remote_state.a.outputs.a}-b"
}

output "b" {
  value = terraform_data.v.output
}
`)
	upload("c", remoteState("a", s.base, ws["a"])+remoteState("b", s.base, ws["b"])+`
resource "terraform_data" "v" {
  input = "${data.terraform_remote_state.a.outputs.a}|${data.terraform_remote_state.b.outputs.b}"
}

output "c" {
  value = terraform_data.v.output
}
`)
	s.wait(s.run(ws["a"], ""), time.Minute, "applied")
	runsOf := func(name string) []any {
		return s.do("GET", "/api/v1/workspaces/"+ws[name]+"/runs", "", 200)["items"].([]any)
	}
	waitRuns := func(name string, status string) map[string]any {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if items := runsOf(name); len(items) > 0 {
				r := items[0].(map[string]any)
				if r["status"] == status {
					return r
				}
				if s := r["status"]; s == "errored" || s == "canceled" {
					t.Fatalf("%s's run %v: %v", name, s, r["error"])
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s has no %s run: %v\n%s", name, status, runsOf(name), s.log)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	b := waitRuns("b", "applied")
	c := waitRuns("c", "applied")
	if n, m := len(runsOf("b")), len(runsOf("c")); n != 1 || m != 1 {
		t.Fatalf("b has %d runs and c %d, want one each", n, m)
	}
	bApplied, _ := time.Parse(time.RFC3339Nano, b["status_timestamps"].(map[string]any)["applied"].(string))
	cPlanning, _ := time.Parse(time.RFC3339Nano, c["status_timestamps"].(map[string]any)["planning"].(string))
	if !cPlanning.After(bApplied) {
		t.Fatalf("c planned at %s, before b applied at %s", cPlanning, bApplied)
	}
	if outs := s.do("GET", "/api/v1/workspaces/"+ws["c"]+"/outputs", "", 200)["items"].([]any); len(outs) != 1 || outs[0].(map[string]any)["value"] != "a-1|a-1-b" {
		t.Fatalf("c's outputs %v: it did not read both new states", outs)
	}

	// b now fails to plan; the next apply of a cancels c's triggered run.
	upload("b", "output \"b\" {\n  value = file(\"missing.txt\")\n}\n")
	upload("a", aTF("a-2"))
	s.wait(s.run(ws["a"], ""), time.Minute, "applied")
	deadline := time.Now().Add(time.Minute)
	for {
		items := runsOf("c")
		latest := items[0].(map[string]any)
		if len(items) == 2 && latest["status"] == "canceled" {
			if !strings.Contains(latest["error"].(string), "upstream") {
				t.Fatalf("c canceled without the reason: %v", latest["error"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("c's runs %v\n%s", items, s.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if latest := runsOf("b")[0].(map[string]any); latest["status"] != "errored" {
		t.Fatalf("b's second run is %v", latest["status"])
	}
}

// An outputs_changed edge fires when an apply changes the upstream's
// outputs and stays quiet when the apply changed its state but not its
// outputs.
func TestTriggerOutputsChangedWithTerraform(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	up := s.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"up","auto_apply":true}`, 201)["id"].(string)
	down := s.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"down","auto_apply_run_trigger":true}`, 201)["id"].(string)
	s.do("PATCH", "/api/v1/workspaces/"+up, `{"remote_state_consumers":["`+down+`"]}`, 200)
	s.do("POST", "/api/v1/workspaces/"+down+"/triggers", `{"upstream_workspace_id":"`+up+`","on":"outputs_changed"}`, 201)
	upload := func(ws, tf string) {
		s.request("POST", "/api/v1/workspaces/"+ws+"/configuration-versions", bytes.NewReader(tarGz(t, map[string]string{"main.tf": tf})), 201)
	}
	upTF := func(input, output string) string {
		return fmt.Sprintf("resource \"terraform_data\" \"v\" {\n  input = %q\n}\n\noutput \"o\" {\n  value = %q\n}\n", input, output)
	}
	upload(down, "resource \"terraform_data\" \"d\" {\n  input = timestamp()\n}\n")
	downRuns := func() []any {
		return s.do("GET", "/api/v1/workspaces/"+down+"/runs", "", 200)["items"].([]any)
	}
	settle := func(want int) {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			items := downRuns()
			if len(items) == want && items[0].(map[string]any)["status"] == "applied" {
				return
			}
			if len(items) > want || time.Now().After(deadline) {
				t.Fatalf("down has runs %v, want %d applied\n%s", items, want, s.log)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	upload(up, upTF("first", "same"))
	s.wait(s.run(up, ""), time.Minute, "applied")
	settle(1) // no outputs → some outputs: changed

	upload(up, upTF("second", "same"))
	s.wait(s.run(up, ""), time.Minute, "applied")
	// The state changed, its outputs did not: nothing may be queued. The
	// event is delivered as the apply finishes; give it several seconds.
	time.Sleep(3 * time.Second)
	if items := downRuns(); len(items) != 1 {
		t.Fatalf("unchanged outputs triggered down: %v", items)
	}

	upload(up, upTF("second", "different"))
	s.wait(s.run(up, ""), time.Minute, "applied")
	settle(2)
}

// With an events queue configured, an applied run's state.changed event
// reaches SQS (a real SQS-API server) as the message functions/events
// consumes.
func TestAppliedRunPublishesItsEventToSQS(t *testing.T) {
	t.Parallel()
	servers := awstest.Start(t)
	queueURL := servers.Queue(t)
	s := startServer(t, "terraform", "RUNPLANE_EVENTS_QUEUE_URL="+queueURL, "RUNPLANE_SQS_ENDPOINT="+servers.SQSEndpoint)
	ws := s.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"net","auto_apply":true}`, 201)["id"].(string)
	s.request("POST", "/api/v1/workspaces/"+ws+"/configuration-versions",
		bytes.NewReader(tarGz(t, map[string]string{"main.tf": "resource \"terraform_data\" \"v\" {\n  input = \"x\"\n}\n"})), 201)
	runID := s.run(ws, "")
	s.wait(runID, time.Minute, "applied")

	out, err := servers.SQS().ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("%d messages on the queue after one apply, want 1\n%s", len(out.Messages), s.log)
	}
	var m events.Message
	if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &m); err != nil || m.EventID == uuid.Nil {
		t.Fatalf("message %q: %v", aws.ToString(out.Messages[0].Body), err)
	}
	if ev, err := dbsqlc.New(s.pool).EventGet(context.Background(), m.EventID); err != nil || ev.RunID == nil || ev.RunID.String() != runID || ev.Kind != string(events.StateChanged) {
		t.Fatalf("the message names event %s: %+v %v, want the event of run %s", m.EventID, ev, err, runID)
	}
}

// cidrPolicy denies the network's default CIDR, read from the real plan.
const cidrPolicy = `package terraform.cidr

deny contains msg if {
	some rc in input.resource_changes
	rc.type == "terraform_data"
	rc.change.after.input == "10.0.0.0/16"
	msg := sprintf("%s uses the default CIDR", [rc.address])
}`

// Policies check the real plan between plan and apply: a hard-mandatory
// policy that denies it errors the run and frees the workspace; as
// soft-mandatory it holds the run until an organization admin overrides,
// and then the run applies.
func TestPoliciesCheckTheRealPlan(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	rego, _ := json.Marshal(cidrPolicy)
	hard := s.do("POST", "/api/v1/organizations/acme/policies", `{"name":"cidr","enforcement":"hard-mandatory","rego":`+string(rego)+`}`, 201)
	ws := s.workspace("network", false, map[string]string{"main.tf": networkTF})

	first := s.run(ws, `{}`)
	if r := s.wait(first, time.Minute, "errored"); !strings.Contains(r["error"].(string), "cidr") {
		t.Fatalf("errored run says %q", r["error"])
	}
	checks := s.do("GET", "/api/v1/runs/"+first+"/policy-checks", "", 200)["items"].([]any)
	if len(checks) != 1 {
		t.Fatalf("policy checks %v", checks)
	}
	if c := checks[0].(map[string]any); c["passed"] != false || c["enforcement"] != "hard-mandatory" ||
		fmt.Sprint(c["messages"]) != "[terraform_data.net uses the default CIDR]" {
		t.Fatalf("check %v", c)
	}
	if w := s.do("GET", "/api/v1/workspaces/"+ws, "", 200); w["current_run_id"] != nil {
		t.Fatalf("the errored run still holds the workspace: %v", w["current_run_id"])
	}

	s.request("DELETE", "/api/v1/policies/"+hard["id"].(string), nil, 204)
	s.do("POST", "/api/v1/organizations/acme/policies", `{"name":"cidr","enforcement":"soft-mandatory","rego":`+string(rego)+`}`, 201)
	second := s.run(ws, `{}`)
	if r := s.wait(second, time.Minute, "policy_override"); r["wait_reason"] != "policy_override" {
		t.Fatalf("soft-failed run waits for %v", r["wait_reason"])
	}
	writer := *s
	writer.token = s.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"dev","role":"write"}`, 201)["token"].(string)
	writer.do("POST", "/api/v1/runs/"+second+"/actions/override", "", 403)
	writer.do("POST", "/api/v1/runs/"+second+"/actions/confirm", "", 409)
	s.do("POST", "/api/v1/runs/"+second+"/actions/override", "", 200)
	s.do("POST", "/api/v1/runs/"+second+"/actions/confirm", "", 200)
	s.wait(second, time.Minute, "applied")
}

// A failed run's error carries terraform's own diagnostic, not only its
// exit code: the cause is on the run, where a person looks first.
func TestAFailedRunSaysWhy(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	ws := s.workspace("broken", true, map[string]string{"main.tf": `output "x" { value = var.nope }`})
	r := s.wait(s.run(ws, ""), time.Minute, "errored")
	msg, _ := r["error"].(string)
	if !strings.Contains(msg, "terraform plan exited with code 1") || !strings.Contains(msg, "Error: Reference to undeclared input variable") ||
		!strings.Contains(msg, `An input variable with the name "nope" has not been declared`) {
		t.Fatalf("the run's error: %q", msg)
	}
}

// A state above the size that goes straight to storage on AWS (4 MiB)
// travels through the API on runplane server, whose folder storage signs
// no requests: the agent's state proxy falls back, the state is saved,
// the next plan reads it (no changes), and it downloads whole.
func TestLargeStateThroughTheAPIOnEmbeddedStorage(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	ws := s.workspace("big", true, map[string]string{"main.tf": `
resource "terraform_data" "big" {
  input = sensitive(format("%3000000s", "x"))
}
`})
	if r := s.wait(s.run(ws, ""), 2*time.Minute, "applied", "errored"); r["status"] != "applied" {
		t.Fatalf("run %v: %v\n%s", r["status"], r["error"], s.log)
	}
	if r := s.wait(s.run(ws, ""), 2*time.Minute, "planned_and_finished", "errored"); r["status"] != "planned_and_finished" {
		t.Fatalf("second run %v: %v\n%s", r["status"], r["error"], s.log)
	}
	cur := s.do("GET", "/api/v1/workspaces/"+ws+"/state-versions", "", 200)["items"].([]any)[0].(map[string]any)
	state := s.request("GET", "/api/v1/state-versions/"+cur["id"].(string)+"/download", nil, 200)
	if size := cur["size"].(float64); size < 6e6 || len(state) != int(size) {
		t.Fatalf("state of %v bytes, %d downloaded", size, len(state))
	}
}
