package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/runplane/runplane/internal/agentapi"
	"github.com/runplane/runplane/internal/archive"
)

// Config is how an agent finds its server and its tools.
type Config struct {
	// URL is the Runplane server, e.g. http://127.0.0.1:8080.
	URL string
	// AgentToken authenticates to the agent API.
	AgentToken string
	// Terraform is the terraform binary (default "terraform" on PATH).
	Terraform string
	// Name identifies the agent in the job record.
	Name string
	// ClaimWait is how long to wait for a job before exiting (default 60 s).
	ClaimWait time.Duration
	// Sandbox is how terraform is isolated: SandboxBwrap (default) or SandboxOff.
	Sandbox string
	// SandboxBinds are extra host folders terraform may use, read-write.
	SandboxBinds []string
	// CAFile, when set, is a PEM certificate terraform trusts besides the
	// system's: the server's own when it serves HTTPS under a private CA,
	// so that a run reaches another workspace's state at the API's address.
	CAFile string
	// Permit, when set, is read for one byte before claiming: a launcher
	// boots agents ahead of need and lets them claim when a slot is free.
	Permit io.ReadCloser
}

// overrideTF points the configuration's backend at Runplane, whatever it
// declared; the addresses and credential come from TF_HTTP_* variables.
const overrideTF = `terraform {
  backend "http" {}
}
`

// Check reports what the agent cannot start without.
func (c Config) Check() error {
	var missing []string
	if c.URL == "" {
		missing = append(missing, "RUNPLANE_URL")
	}
	if c.AgentToken == "" {
		missing = append(missing, "RUNPLANE_AGENT_TOKEN")
	}
	if len(missing) > 0 {
		return fmt.Errorf("set %s", strings.Join(missing, " and "))
	}
	return nil
}

// Run claims one job and executes it. It returns nil when it finished the
// job, lost its lease, found no job within ClaimWait or was stopped while
// waiting for one.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Terraform == "" {
		cfg.Terraform = "terraform"
	}
	if cfg.ClaimWait == 0 {
		cfg.ClaimWait = time.Minute
	}
	if cfg.Name == "" {
		host, _ := os.Hostname()
		cfg.Name = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	tf, err := exec.LookPath(cfg.Terraform)
	if err != nil {
		return fmt.Errorf("terraform not found (set RUNPLANE_TERRAFORM): %w", err)
	}
	if tf, err = filepath.Abs(tf); err != nil {
		return err
	}
	// Refuse before claiming: a job taken by an agent that cannot run it
	// safely would wait out a lease.
	if err := CheckSandbox(cfg.Sandbox); err != nil {
		return err
	}
	// The job's folder and sandbox are made while waiting, so a claimed
	// job starts at once.
	dir, box, err := prepare(cfg, tf)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The state proxy starts while the agent waits too (a process start
	// is tens of milliseconds); without one, terraform talks to the server.
	proxy, err := startStateProxy()
	if err != nil {
		slog.Warn("no state proxy; terraform will talk to the server directly", "err", err)
	} else {
		defer proxy.Stop()
	}
	if cfg.Permit != nil {
		if ok := awaitPermit(ctx, cfg.Permit); !ok {
			slog.Info("let go before claiming")
			return nil
		}
	}
	c := &client{base: strings.TrimRight(cfg.URL, "/"), token: cfg.AgentToken, http: &http.Client{Timeout: 2 * time.Minute}}
	j, err := c.claim(ctx, cfg.Name, cfg.ClaimWait)
	if err != nil && ctx.Err() != nil {
		slog.Info("stopped while waiting for a job")
		return nil
	}
	if err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	if j == nil {
		slog.Info("no job to claim")
		return nil
	}
	slog.Info("claimed job", "job", j.ID, "run", j.RunID, "phase", j.Phase)
	e := &execution{c: c, job: j, terraform: tf, cfg: cfg, dir: dir, box: box, proxy: proxy,
		stateURL: c.base + "/api/v1/workspaces/" + j.WorkspaceID.String() + "/state"}
	return e.run(ctx)
}

// awaitPermit waits for the launcher's permit to claim; false when the
// agent was stopped or the launcher closed the permit without one.
func awaitPermit(ctx context.Context, permit io.ReadCloser) bool {
	got := make(chan bool, 1)
	go func() {
		_, err := io.ReadFull(permit, make([]byte, 1))
		// Closed at once, so terraform never inherits it.
		permit.Close()
		got <- err == nil
	}()
	select {
	case ok := <-got:
		return ok
	case <-ctx.Done():
		return false
	}
}

// prepare makes a job folder and the sandbox around it: terraform's CLI
// configuration, its home, and the folder its configuration goes in.
func prepare(cfg Config, terraform string) (string, *sandbox, error) {
	dir, err := os.MkdirTemp("", "runplane-job-")
	if err != nil {
		return "", nil, err
	}
	box, err := newSandbox(cfg.Sandbox, terraform, dir, cfg.SandboxBinds)
	if err == nil {
		err = writeCLIConfig(dir)
	}
	if err == nil && cfg.CAFile != "" {
		err = copyCA(cfg.CAFile, dir)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, box, nil
}

// writeCLIConfig keeps terraform offline by default: an empty CLI
// configuration, or the operator's (TF_CLI_CONFIG_FILE), copied into the
// job so the sandbox can read it.
func writeCLIConfig(dir string) error {
	var cliConfig []byte
	if path := os.Getenv("TF_CLI_CONFIG_FILE"); path != "" {
		if b, err := os.ReadFile(path); err == nil {
			cliConfig = b
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "terraformrc"), cliConfig, 0o600); err != nil {
		return err
	}
	for _, sub := range []string{"home", "config"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	return nil
}

// copyCA puts the trusted certificate where the sandbox can read it.
func copyCA(src, dir string) error {
	pem, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("RUNPLANE_AGENT_CA_FILE: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, caFile), pem, 0o600)
}

// caFile is the trusted certificate's name in the job folder.
const caFile = "ca.pem"

// execution is one claimed job in progress.
type execution struct {
	c         *client
	job       *agentapi.Job
	terraform string
	cfg       Config
	stateURL  string
	dir       string
	box       *sandbox
	// proxy is the state proxy started while the agent waited; nil: none.
	proxy *StateProxyProcess
	// environ is terraform's environment, the same for every command of the job.
	environ []string
	log     *logStream

	mu sync.Mutex
	// leader is the pid of the running terraform's process group, or 0.
	leader   int
	canceled bool
	// stopping: the agent was told to stop (SIGTERM); terraform was
	// interrupted so that it saves state, and the job reports failure.
	stopping bool
	lost     bool
	// terraformTime is how long the job's terraform commands have run: the
	// part of the job that is terraform's own, reported with the finish.
	terraformTime time.Duration
}

// run executes the job. ctx ending (the agent's SIGTERM, a container
// stop) does not abandon terraform: it is interrupted so that it saves
// state, and the job is reported with what happened.
func (e *execution) run(ctx context.Context) error {
	jobCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	// Terraform reaches the state through the agent's state proxy, which
	// takes a large one straight to storage; without it, directly.
	if e.proxy != nil {
		if url, err := e.proxy.Configure(e.stateURL, e.job.Credential); err != nil {
			slog.Warn("state proxy failed; terraform talks to the server directly", "err", err)
		} else {
			e.stateURL = url
		}
	}
	e.environ = e.terraformEnv()
	e.log = &logStream{c: e.c, job: e.job, lost: func() { e.loseLease(stop) }}
	go e.log.flushEvery(jobCtx, 500*time.Millisecond)
	// Heartbeats stop before the finish: one answered after the finish
	// ended the job would say lease_lost and cancel the finish's call.
	beatCtx, stopBeats := context.WithCancel(jobCtx)
	defer stopBeats()
	go e.heartbeat(beatCtx, stop)
	go func() {
		select {
		case <-ctx.Done():
			e.stop()
		case <-jobCtx.Done():
		}
	}()

	summary, err := e.execute(jobCtx)
	e.mu.Lock()
	lost, canceled, stopping, tfTime := e.lost, e.canceled, e.stopping, e.terraformTime
	e.mu.Unlock()
	reportCtx := jobCtx
	if stopping {
		// Told to stop: report if the server answers soon, else leave the
		// job to its lease rather than outlive whatever stopped us.
		var cancel context.CancelFunc
		reportCtx, cancel = context.WithTimeout(jobCtx, stopReportWait)
		defer cancel()
	}
	logOffset, logTail := e.log.tail(reportCtx)
	if lost {
		slog.Warn("lease lost; leaving the job to the server", "job", e.job.ID)
		return nil
	}
	out := agentapi.Finish{Result: agentapi.ResultSucceeded, TerraformMs: tfTime.Milliseconds(), LogOffset: logOffset, Log: logTail}
	switch {
	case canceled:
		out.Result = agentapi.ResultCanceled
	case stopping:
		out.Result, out.Error = agentapi.ResultFailed, "the agent was stopped (SIGTERM) during the "+e.job.Phase+"; terraform was interrupted (an apply saves its state first)"
	case err != nil:
		out.Result, out.Error = agentapi.ResultFailed, err.Error()
	case summary != nil:
		out.Plan = summary
	}
	body, _ := json.Marshal(out)
	stopBeats()
	_, ferr := e.c.retry(reportCtx, "POST", agentapi.JobPath(e.job.ID, "finish"), e.job.LeaseToken, body, nil)
	if errors.Is(ferr, errLeaseLost) {
		slog.Warn("lease lost before finishing", "job", e.job.ID)
		return nil
	}
	slog.Info("job finished", "job", e.job.ID, "result", out.Result)
	return ferr
}

// stopReportWait bounds how long a stopped agent tries to report its job.
const stopReportWait = 10 * time.Second

// stop is the agent's SIGTERM: terraform gets SIGINT, stops at a safe
// point and saves state; the job then reports failure.
func (e *execution) stop() {
	e.mu.Lock()
	first := !e.stopping
	e.stopping = true
	e.mu.Unlock()
	if first {
		slog.Warn("agent stopping; interrupting terraform so that it saves state", "job", e.job.ID)
		e.signal(syscall.SIGINT)
	}
}

func (e *execution) execute(ctx context.Context) (*agentapi.PlanSummary, error) {
	cfgDir := filepath.Join(e.dir, "config")
	// Terraform works in config/ and finds the plan file beside it, by a
	// relative path that is the same inside the sandbox and out.
	const workDir, planArg = "config", "../plan.tfplan"
	planPath := filepath.Join(e.dir, "plan.tfplan")
	// What the phase needs from the server arrives in parallel.
	var archiveBytes, plan []byte
	var vars agentapi.Variables
	fetch, fctx := errgroup.WithContext(ctx)
	fetch.Go(func() (err error) {
		if archiveBytes, err = e.get(fctx, "configuration"); err != nil {
			return fmt.Errorf("download configuration: %w", err)
		}
		return nil
	})
	fetch.Go(func() error {
		raw, err := e.get(fctx, "variables")
		if err == nil {
			err = json.Unmarshal(raw, &vars)
		}
		if err != nil {
			return fmt.Errorf("download variables: %w", err)
		}
		return nil
	})
	if e.job.Phase == agentapi.PhaseApply {
		fetch.Go(func() (err error) {
			if plan, err = e.get(fctx, "artifacts/"+agentapi.ArtifactPlanFile); err != nil {
				return fmt.Errorf("download plan file: %w", err)
			}
			return os.WriteFile(planPath, plan, 0o600)
		})
	}
	if err := fetch.Wait(); err != nil {
		return nil, err
	}
	if err := archive.Extract(bytes.NewReader(archiveBytes), cfgDir, archive.DefaultLimits); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "zz_runplane_backend_override.tf"), []byte(overrideTF), 0o600); err != nil {
		return nil, err
	}
	secrets, err := e.giveVariables(vars.Items, cfgDir)
	if err != nil {
		return nil, err
	}
	token, err := e.giveIdentity(vars.Items)
	if err != nil {
		return nil, err
	}
	if token != "" {
		secrets = append(secrets, token)
	}
	e.log.redact(secrets)
	if _, err := e.tf(ctx, workDir, "init", "-input=false", "-no-color"); err != nil {
		return nil, err
	}
	if e.job.Phase == agentapi.PhaseApply {
		_, err := e.tf(ctx, workDir, "apply", "-input=false", "-no-color", planArg)
		return nil, err
	}
	code, err := e.tf(ctx, workDir, planArgs(*e.job, planArg)...)
	if err != nil && code != 2 {
		return nil, err
	}
	hasChanges := code == 2
	// The plan file goes up while terraform renders it as JSON, the JSON
	// while the log's last lines do.
	uploads, uctx := errgroup.WithContext(ctx)
	if !e.job.PlanOnly {
		uploads.Go(func() error {
			plan, err := os.ReadFile(planPath)
			if err == nil {
				err = e.put(uctx, "artifacts/"+agentapi.ArtifactPlanFile, plan)
			}
			if err != nil {
				return fmt.Errorf("upload plan file: %w", err)
			}
			return nil
		})
	}
	planJSON, err := e.capture(ctx, workDir, "show", "-json", planArg)
	if err != nil {
		_ = uploads.Wait()
		return nil, err
	}
	uploads.Go(func() error {
		if err := e.put(uctx, "artifacts/"+agentapi.ArtifactPlanJSON, planJSON); err != nil {
			return fmt.Errorf("upload plan JSON: %w", err)
		}
		return nil
	})
	uploads.Go(func() error { e.log.flush(uctx); return nil })
	if err := uploads.Wait(); err != nil {
		return nil, err
	}
	summary := summarize(planJSON)
	summary.HasChanges = hasChanges
	return &summary, nil
}

// planArgs is the job's terraform plan command line. Addresses go as
// arguments of their own, never through a shell.
func planArgs(j agentapi.Job, out string) []string {
	args := []string{"plan", "-input=false", "-no-color", "-detailed-exitcode", "-out=" + out}
	if j.IsDestroy {
		args = append(args, "-destroy")
	}
	if j.RefreshOnly {
		args = append(args, "-refresh-only")
	}
	if j.SkipRefresh {
		args = append(args, "-refresh=false")
	}
	for _, a := range j.TargetAddrs {
		args = append(args, "-target="+a)
	}
	for _, a := range j.ReplaceAddrs {
		args = append(args, "-replace="+a)
	}
	if j.PlanOnly {
		// A speculative plan never holds the workspace, so it may not take the state lock.
		args = append(args, "-lock=false")
	}
	return args
}

// get fetches one of the job's inputs, a large one straight from storage
// when the server grants it.
func (e *execution) get(ctx context.Context, what string) ([]byte, error) {
	return e.c.fetch(ctx, agentapi.JobPath(e.job.ID, what), e.job.LeaseToken)
}

// put stores one of the job's artifacts, a large one straight into
// storage when the server grants it.
func (e *execution) put(ctx context.Context, what string, body []byte) error {
	return e.c.store(ctx, agentapi.JobPath(e.job.ID, what), e.job.LeaseToken, body)
}

// summarize counts the resource changes of `terraform show -json`.
func summarize(planJSON []byte) agentapi.PlanSummary {
	var p struct {
		ResourceChanges []struct {
			Change struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	var s agentapi.PlanSummary
	if json.Unmarshal(planJSON, &p) != nil {
		return s
	}
	for _, rc := range p.ResourceChanges {
		for _, a := range rc.Change.Actions {
			switch a {
			case "create":
				s.Add++
			case "update":
				s.Change++
			case "delete":
				s.Destroy++
			}
		}
	}
	return s
}

// terraformEnv is terraform's whole environment: an allow-list, nothing of
// the agent's own (its token, the host's credentials, RUNPLANE_*).
func (e *execution) terraformEnv() []string {
	root := e.box.root()
	tmp := "/tmp"
	if e.box.bwrap == "" {
		tmp = os.TempDir()
	}
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + root + "/home", "TMPDIR=" + tmp, "LANG=C.UTF-8",
		"TF_IN_AUTOMATION=1", "TF_INPUT=0", "CHECKPOINT_DISABLE=1", "TF_CLI_CONFIG_FILE=" + root + "/terraformrc",
		// Locks go with standard verbs, which every proxy passes (API
		// Gateway documents no others).
		"TF_HTTP_ADDRESS=" + e.stateURL, "TF_HTTP_LOCK_ADDRESS=" + e.stateURL + "/lock", "TF_HTTP_UNLOCK_ADDRESS=" + e.stateURL + "/unlock",
		"TF_HTTP_LOCK_METHOD=POST", "TF_HTTP_UNLOCK_METHOD=POST",
		"TF_HTTP_USERNAME=runplane", "TF_HTTP_PASSWORD=" + e.job.Credential,
		// Ride out a server or database outage of a few minutes: an apply's
		// state must reach the server, not errored.tfstate in a folder that
		// is about to be deleted.
		"TF_HTTP_RETRY_MAX=40", "TF_HTTP_RETRY_WAIT_MIN=1", "TF_HTTP_RETRY_WAIT_MAX=5",
	}
	if e.cfg.CAFile != "" {
		// Go reads the system's certificate folders as well.
		env = append(env, "SSL_CERT_FILE="+root+"/"+caFile)
	}
	return env
}

// tf runs terraform with its output in the job's log, returning its exit code.
func (e *execution) tf(ctx context.Context, dir string, args ...string) (int, error) {
	fmt.Fprintf(e.log, "$ terraform %s\n", strings.Join(args, " "))
	return e.start(ctx, dir, e.log, args...)
}

// capture runs terraform and returns its stdout (stderr goes to the log).
func (e *execution) capture(ctx context.Context, dir string, args ...string) ([]byte, error) {
	var out bytes.Buffer
	_, err := e.start(ctx, dir, &out, args...)
	return out.Bytes(), err
}

func (e *execution) start(ctx context.Context, dir string, stdout io.Writer, args ...string) (int, error) {
	e.mu.Lock()
	if e.canceled || e.lost || e.stopping {
		e.mu.Unlock()
		return -1, errors.New("stopped before terraform " + args[0])
	}
	cmd, info, err := e.box.command(dir, e.environ, args...)
	if err != nil {
		e.mu.Unlock()
		return -1, err
	}
	cmd.Stdout, cmd.Stderr = stdout, e.log
	e.log.command()
	began := time.Now()
	err = cmd.Start()
	if info != nil {
		cmd.ExtraFiles[0].Close()
	}
	if err != nil {
		e.mu.Unlock()
		if info != nil {
			info.Close()
		}
		return -1, err
	}
	e.leader = cmd.Process.Pid
	if info != nil {
		if e.leader, err = leader(info); err != nil {
			e.leader = 0
			e.mu.Unlock()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return -1, err
		}
	}
	e.mu.Unlock()
	err = cmd.Wait()
	e.mu.Lock()
	e.leader = 0
	e.terraformTime += time.Since(began)
	e.mu.Unlock()
	code := cmd.ProcessState.ExitCode()
	if err != nil {
		// The cause is in terraform's own words, not only in the log.
		if d := e.log.diagnostics(); d != "" {
			return code, fmt.Errorf("terraform %s exited with code %d:\n%s", args[0], code, d)
		}
		return code, fmt.Errorf("terraform %s exited with code %d", args[0], code)
	}
	return code, nil
}

func (e *execution) signal(sig syscall.Signal) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leader > 0 {
		_ = syscall.Kill(-e.leader, sig)
	}
}

// loseLease: the job is no longer ours. A plan is stopped at once; an
// apply is left to finish, so that what it creates reaches the state (the
// job's credential may still write it while the workspace stays locked for
// this run), but nothing more of it is reported.
func (e *execution) loseLease(stop func()) {
	e.mu.Lock()
	first := !e.lost
	e.lost = true
	e.mu.Unlock()
	if e.job.Phase == agentapi.PhaseApply {
		if first {
			slog.Warn("lease lost during the apply; letting terraform finish and save its state", "job", e.job.ID)
		}
		return
	}
	e.signal(syscall.SIGKILL)
	stop()
}

func (e *execution) heartbeat(ctx context.Context, stop func()) {
	every := time.Duration(e.job.HeartbeatSeconds * float64(time.Second))
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var beat agentapi.Heartbeat
		_, _, err := e.c.call(ctx, "POST", agentapi.JobPath(e.job.ID, "heartbeat"), e.job.LeaseToken, nil, &beat)
		if ctx.Err() != nil {
			return // the finish is under way: its answer decides
		}
		switch {
		case beat.Stop:
			// Force-canceled: the run is over and someone asked for it.
			slog.Warn("stopping: the run was force-canceled", "job", e.job.ID)
			e.mu.Lock()
			e.lost = true
			e.mu.Unlock()
			e.signal(syscall.SIGKILL)
			stop()
			return
		case errors.Is(err, errLeaseLost):
			e.loseLease(stop)
			return
		case err != nil:
			// A missed heartbeat is survivable until the lease runs out.
			slog.Warn("heartbeat failed", "job", e.job.ID, "err", err)
		case beat.Cancel:
			e.mu.Lock()
			first := !e.canceled
			e.canceled = true
			e.mu.Unlock()
			if first {
				slog.Info("cancel requested; interrupting terraform", "job", e.job.ID)
				e.signal(syscall.SIGINT)
			}
		}
	}
}

// ConfigFromEnv reads the agent's settings: RUNPLANE_URL,
// RUNPLANE_AGENT_TOKEN, RUNPLANE_TERRAFORM, RUNPLANE_AGENT_NAME,
// RUNPLANE_AGENT_CLAIM_WAIT (a duration), RUNPLANE_AGENT_SANDBOX (bwrap or
// off) and RUNPLANE_AGENT_SANDBOX_BIND (extra folders, colon-separated).
func ConfigFromEnv(getenv func(string) string) Config {
	wait, _ := time.ParseDuration(getenv("RUNPLANE_AGENT_CLAIM_WAIT"))
	var binds []string
	for _, b := range strings.Split(getenv("RUNPLANE_AGENT_SANDBOX_BIND"), ":") {
		if b != "" {
			binds = append(binds, b)
		}
	}
	cfg := Config{
		URL: getenv("RUNPLANE_URL"), AgentToken: getenv("RUNPLANE_AGENT_TOKEN"), Terraform: getenv("RUNPLANE_TERRAFORM"),
		Name: getenv("RUNPLANE_AGENT_NAME"), ClaimWait: wait,
		Sandbox: getenv("RUNPLANE_AGENT_SANDBOX"), SandboxBinds: binds, CAFile: getenv("RUNPLANE_AGENT_CA_FILE"),
	}
	if fd, err := strconv.Atoi(getenv("RUNPLANE_AGENT_PERMIT_FD")); err == nil && fd > 2 {
		cfg.Permit = os.NewFile(uintptr(fd), "permit")
	}
	return cfg
}
