package runner

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
	"strings"
	"sync"
	"syscall"
	"time"

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
}

// overrideTF points the configuration's backend at Runplane, whatever it
// declared; the addresses and credential come from TF_HTTP_* variables.
const overrideTF = `terraform {
  backend "http" {}
}
`

// Run claims one job and executes it. It returns nil when it finished the
// job, lost its lease, or found no job within ClaimWait.
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
	c := &client{base: strings.TrimRight(cfg.URL, "/"), token: cfg.AgentToken, http: &http.Client{Timeout: 2 * time.Minute}}
	j, err := c.claim(ctx, cfg.Name, cfg.ClaimWait)
	if err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	if j == nil {
		slog.Info("no job to claim")
		return nil
	}
	slog.Info("claimed job", "job", j.ID, "run", j.RunID, "phase", j.Phase)
	e := &execution{c: c, job: j, terraform: tf, stateURL: c.base + "/api/v1/workspaces/" + j.WorkspaceID + "/state"}
	return e.run(ctx)
}

// execution is one claimed job in progress.
type execution struct {
	c         *client
	job       *job
	terraform string
	stateURL  string
	dir       string
	// environ is terraform's environment, the same for every command of the job.
	environ []string
	log     *logStream

	mu       sync.Mutex
	current  *exec.Cmd
	canceled bool
	lost     bool
}

func (e *execution) run(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	dir, err := os.MkdirTemp("", "runplane-job-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	e.dir = dir
	e.environ = e.terraformEnv()
	e.log = &logStream{c: e.c, job: e.job, lost: func() { e.loseLease(stop) }}
	go e.log.flushEvery(ctx, 500*time.Millisecond)
	go e.heartbeat(ctx, stop)

	summary, err := e.execute(ctx)
	e.log.close(context.WithoutCancel(ctx))
	e.mu.Lock()
	lost, canceled := e.lost, e.canceled
	e.mu.Unlock()
	if lost {
		slog.Warn("lease lost; leaving the job to the server", "job", e.job.ID)
		return nil
	}
	out := map[string]any{"result": "succeeded"}
	switch {
	case canceled:
		out["result"] = "canceled"
	case err != nil:
		out = map[string]any{"result": "failed", "error": err.Error()}
	case summary != nil:
		out["plan"] = summary
	}
	body, _ := json.Marshal(out)
	_, ferr := e.c.retry(context.WithoutCancel(ctx), "POST", "/api/agent/v1/jobs/"+e.job.ID+"/finish", e.job.LeaseToken, body, nil)
	if errors.Is(ferr, errLeaseLost) {
		slog.Warn("lease lost before finishing", "job", e.job.ID)
		return nil
	}
	slog.Info("job finished", "job", e.job.ID, "result", out["result"])
	return ferr
}

type planSummary struct {
	Add        int  `json:"add"`
	Change     int  `json:"change"`
	Destroy    int  `json:"destroy"`
	HasChanges bool `json:"has_changes"`
}

func (e *execution) execute(ctx context.Context) (*planSummary, error) {
	cfgDir := filepath.Join(e.dir, "config")
	if err := os.Mkdir(cfgDir, 0o700); err != nil {
		return nil, err
	}
	archiveBytes, err := e.c.retry(ctx, "GET", "/api/agent/v1/jobs/"+e.job.ID+"/configuration", e.job.LeaseToken, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("download configuration: %w", err)
	}
	if err := archive.Extract(bytes.NewReader(archiveBytes), cfgDir, archive.DefaultLimits); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "zz_runplane_backend_override.tf"), []byte(overrideTF), 0o600); err != nil {
		return nil, err
	}
	if _, err := e.tf(ctx, cfgDir, "init", "-input=false", "-no-color"); err != nil {
		return nil, err
	}
	if e.job.Phase == "apply" {
		plan, err := e.c.retry(ctx, "GET", "/api/agent/v1/jobs/"+e.job.ID+"/artifacts/plan-file", e.job.LeaseToken, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("download plan file: %w", err)
		}
		planPath := filepath.Join(e.dir, "plan.tfplan")
		if err := os.WriteFile(planPath, plan, 0o600); err != nil {
			return nil, err
		}
		_, err = e.tf(ctx, cfgDir, "apply", "-input=false", "-no-color", planPath)
		return nil, err
	}
	planPath := filepath.Join(e.dir, "plan.tfplan")
	args := []string{"plan", "-input=false", "-no-color", "-detailed-exitcode", "-out=" + planPath}
	if e.job.IsDestroy {
		args = append(args, "-destroy")
	}
	if e.job.PlanOnly {
		// A speculative plan never holds the workspace, so it may not take the state lock.
		args = append(args, "-lock=false")
	}
	code, err := e.tf(ctx, cfgDir, args...)
	if err != nil && code != 2 {
		return nil, err
	}
	hasChanges := code == 2
	planJSON, err := e.capture(ctx, cfgDir, "show", "-json", planPath)
	if err != nil {
		return nil, err
	}
	summary := summarize(planJSON)
	summary.HasChanges = hasChanges
	if !e.job.PlanOnly {
		plan, err := os.ReadFile(planPath)
		if err != nil {
			return nil, err
		}
		if _, err := e.c.retry(ctx, "PUT", "/api/agent/v1/jobs/"+e.job.ID+"/artifacts/plan-file", e.job.LeaseToken, plan, nil); err != nil {
			return nil, fmt.Errorf("upload plan file: %w", err)
		}
	}
	if _, err := e.c.retry(ctx, "PUT", "/api/agent/v1/jobs/"+e.job.ID+"/artifacts/plan-json", e.job.LeaseToken, planJSON, nil); err != nil {
		return nil, fmt.Errorf("upload plan JSON: %w", err)
	}
	return &summary, nil
}

// summarize counts the resource changes of `terraform show -json`.
func summarize(planJSON []byte) planSummary {
	var p struct {
		ResourceChanges []struct {
			Change struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	var s planSummary
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

func (e *execution) terraformEnv() []string {
	cliConfig := os.Getenv("TF_CLI_CONFIG_FILE")
	if _, err := os.Stat(cliConfig); cliConfig == "" || err != nil {
		// Offline by default: no provider installation settings from the
		// host, and no warning about a configured file that is missing.
		cliConfig = filepath.Join(e.dir, "terraformrc")
		_ = os.WriteFile(cliConfig, nil, 0o600)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TF_HTTP_") && !strings.HasPrefix(kv, "RUNPLANE_") && !strings.HasPrefix(kv, "TF_CLI_CONFIG_FILE=") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"TF_IN_AUTOMATION=1", "TF_INPUT=0", "CHECKPOINT_DISABLE=1",
		"TF_HTTP_ADDRESS="+e.stateURL, "TF_HTTP_LOCK_ADDRESS="+e.stateURL, "TF_HTTP_UNLOCK_ADDRESS="+e.stateURL,
		"TF_HTTP_USERNAME=runplane", "TF_HTTP_PASSWORD="+e.job.Credential, "TF_CLI_CONFIG_FILE="+cliConfig,
	)
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
	if e.canceled || e.lost {
		e.mu.Unlock()
		return -1, errors.New("stopped before terraform " + args[0])
	}
	cmd := exec.Command(e.terraform, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, e.environ, stdout, e.log
	// Its own process group, so a signal reaches terraform and its plugins.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		e.mu.Unlock()
		return -1, err
	}
	e.current = cmd
	e.mu.Unlock()
	err := cmd.Wait()
	e.mu.Lock()
	e.current = nil
	e.mu.Unlock()
	code := cmd.ProcessState.ExitCode()
	if err != nil {
		return code, fmt.Errorf("terraform %s exited with code %d", args[0], code)
	}
	return code, nil
}

func (e *execution) signal(sig syscall.Signal) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.current != nil && e.current.Process != nil {
		_ = syscall.Kill(-e.current.Process.Pid, sig)
	}
}

// loseLease stops everything: the job is no longer ours.
func (e *execution) loseLease(stop func()) {
	e.mu.Lock()
	e.lost = true
	e.mu.Unlock()
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
		var beat struct {
			Cancel bool `json:"cancel"`
			Stop   bool `json:"stop"`
		}
		_, _, err := e.c.call(ctx, "POST", "/api/agent/v1/jobs/"+e.job.ID+"/heartbeat", e.job.LeaseToken, nil, &beat)
		switch {
		case errors.Is(err, errLeaseLost) || beat.Stop:
			slog.Warn("stopping: the job is over on the server", "job", e.job.ID)
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
// RUNPLANE_AGENT_TOKEN, RUNPLANE_TERRAFORM, RUNPLANE_AGENT_NAME and
// RUNPLANE_AGENT_CLAIM_WAIT (a duration).
func ConfigFromEnv(getenv func(string) string) Config {
	wait, _ := time.ParseDuration(getenv("RUNPLANE_AGENT_CLAIM_WAIT"))
	return Config{
		URL: getenv("RUNPLANE_URL"), AgentToken: getenv("RUNPLANE_AGENT_TOKEN"), Terraform: getenv("RUNPLANE_TERRAFORM"),
		Name: getenv("RUNPLANE_AGENT_NAME"), ClaimWait: wait,
	}
}
