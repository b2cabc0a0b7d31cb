// Command runplane is the Runplane CLI. `runplane server` runs the whole
// platform in one process on embedded defaults; `runplane migrate` applies
// the schema to DATABASE_URL (the deploy step on AWS).
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runplane/runplane/db"
	"github.com/runplane/runplane/internal/agent"
	"github.com/runplane/runplane/internal/httpapi"
	"github.com/runplane/runplane/internal/pgembed"
	"github.com/runplane/runplane/internal/platform"
)

const usage = `usage: runplane <command>

commands:
  server    run the platform in one process (API, scheduler, agent launcher) on embedded defaults
  agent     claim one job from RUNPLANE_URL and run terraform for it (what runplane-agent does)
  migrate   apply database migrations to DATABASE_URL

environment:
  DATABASE_URL          PostgreSQL/CockroachDB URL; empty starts an embedded PostgreSQL
  RUNPLANE_ADDR         listen address (default 127.0.0.1:8080)
  RUNPLANE_TLS_CERT_FILE, RUNPLANE_TLS_KEY_FILE  serve HTTPS with this certificate and key (PEM)
  RUNPLANE_DATA_DIR     data folder: embedded database, admin token, state blobs and
                        the local state key when S3/KMS are not set (default ./.runplane)
  RUNPLANE_ADMIN_TOKEN  site-admin token; generated and printed once when unset
  RUNPLANE_S3_BUCKET    store sealed state in this S3 bucket instead of the data folder
  RUNPLANE_S3_ENDPOINT  S3-compatible endpoint (path-style), for servers other than AWS
  RUNPLANE_KMS_KEY_ID   wrap state data keys with this KMS key instead of the local key file
  RUNPLANE_KMS_ENDPOINT KMS-compatible endpoint, for servers other than AWS
  RUNPLANE_AGENT_TOKEN  the agents' secret; generated into the data folder when unset
  RUNPLANE_AGENT_POOL_SIZE  agents the server may run at once (default 4; 0: none, agents run elsewhere)
  RUNPLANE_TERRAFORM    terraform binary the agents run (default: terraform on PATH)
  RUNPLANE_AGENT_SANDBOX    how agents isolate terraform: bwrap (default; needs bubblewrap) or off (unsafe)
  RUNPLANE_AGENT_SANDBOX_BIND  extra folders terraform may use inside the sandbox, colon-separated
  RUNPLANE_AGENT_LEASE  how long a silent agent keeps its job (default 20s)
  RUNPLANE_AGENT_HEARTBEAT  how often agents heartbeat (default 5s)
  RUNPLANE_TICK_INTERVAL    scheduler tick: lease reaping, event retries, stranded admissions (default 5s)
  RUNPLANE_WORKSPACE_RETENTION  how long a deleted workspace stays restorable (default 720h)
  RUNPLANE_URL          (agent) the server to claim from
`

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd := firstArg(); cmd {
	case "server":
		err = serve(ctx)
	case "migrate":
		err = migrate(ctx)
	case "agent":
		if len(os.Args) > 2 && os.Args[2] == agent.StateProxyCommand {
			err = agent.ServeStateProxy()
			break
		}
		cfg := agent.ConfigFromEnv(os.Getenv)
		if err = cfg.Check(); err == nil {
			err = agent.Run(ctx, cfg)
		}
	default:
		fmt.Fprint(os.Stderr, usage)
		if cmd != "" && cmd != "help" && cmd != "-h" && cmd != "--help" {
			os.Exit(2)
		}
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "runplane:", err)
		os.Exit(1)
	}
}

func firstArg() string {
	if len(os.Args) < 2 {
		return ""
	}
	return os.Args[1]
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func migrate(ctx context.Context) error {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		return errors.New("DATABASE_URL is empty")
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	return db.Migrate(ctx, pool)
}

func serve(ctx context.Context) error {
	addr := env("RUNPLANE_ADDR", "127.0.0.1:8080")
	tlsCert, tlsKey, err := tlsFiles()
	if err != nil {
		return err
	}
	dataDir, err := filepath.Abs(env("RUNPLANE_DATA_DIR", ".runplane"))
	if err != nil {
		return err
	}
	// Traversable by the database's own user when the embedded cluster runs as postgres.
	if err := os.MkdirAll(dataDir, 0o711); err != nil {
		return err
	}
	databaseURL := os.Getenv("DATABASE_URL")
	if databaseURL == "" {
		slog.Info("starting embedded PostgreSQL", "dir", filepath.Join(dataDir, "postgres"))
		cluster, err := pgembed.Start(ctx, filepath.Join(dataDir, "postgres"), pgembed.Options{Durable: true})
		if err != nil {
			return err
		}
		defer func() {
			if err := cluster.Stop(false); err != nil {
				slog.Error("stopping embedded PostgreSQL", "err", err)
			}
		}()
		databaseURL = cluster.URL("postgres")
	}
	cfg, err := platform.FromEnv(os.Getenv, platform.ServerDefaults)
	if err != nil {
		return err
	}
	cfg.DatabaseURL = databaseURL
	if cfg.AdminToken, err = secret(dataDir, "RUNPLANE_ADMIN_TOKEN", "admin-token", "rpadmin_", "Site-admin token"); err != nil {
		return err
	}
	if cfg.AgentToken, err = secret(dataDir, "RUNPLANE_AGENT_TOKEN", "agent-token", "rpagent_", ""); err != nil {
		return err
	}
	cfg.Storage.DataDir = dataDir
	pool := cfg.AgentPoolSize
	if cfg.MaxConns == 0 {
		cfg.MaxConns = serverConns(pool)
	}
	p, err := platform.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	// Deliveries started in process finish before the database goes.
	defer p.Events.Drain()
	if err := db.Migrate(ctx, p.Pool); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := httpapi.NewServer(p.Handler, httpapi.DefaultTimeouts)
	scheme, agentURL := "http://", "http://"+ln.Addr().String()
	// Serving HTTPS, the local agents and their terraform still reach the
	// server over loopback in plain HTTP on a port of their own: they need
	// not trust the certificate, nor its name match 127.0.0.1.
	var agentSrv *http.Server
	if tlsCert != "" {
		aln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		agentSrv = httpapi.NewServer(p.Handler, httpapi.DefaultTimeouts)
		go func() {
			if err := agentSrv.Serve(aln); !errors.Is(err, http.ErrServerClosed) {
				slog.Error("the agents' listener stopped", "err", err)
			}
		}()
		scheme, agentURL = "https://", "http://"+aln.Addr().String()
	}
	go p.Scheduler.Run(ctx, cfg.Agent.Tick)
	agentsDone := make(chan struct{})
	if pool > 0 {
		if err := agent.CheckSandbox(os.Getenv("RUNPLANE_AGENT_SANDBOX")); err != nil {
			return err
		}
		self, err := os.Executable()
		if err != nil {
			return err
		}
		launcher := &agent.Launcher{
			// A spare per slot: a pool freed under load refills at once.
			Pool: pool, Spare: pool,
			Start: func() (agent.Process, error) {
				cmd := exec.Command(self, "agent")
				cmd.Env = agentEnv(agentURL, cfg.AgentToken, tlsCert)
				cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
				// The agents die with the server, even a kill -9 of it:
				// SIGTERM, so terraform is interrupted and saves state.
				cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
				return agent.StartProcess(cmd)
			},
		}
		go func() {
			launcher.Run(ctx)
			close(agentsDone)
		}()
		slog.Info("agent launcher running", "pool", pool)
	} else {
		close(agentsDone)
	}
	go func() {
		<-ctx.Done()
		// The agents stop first, while the API still answers: a busy one
		// interrupts terraform and reports its job instead of leaving it
		// to the reaper, a waiting one leaves its claim.
		select {
		case <-agentsDone:
		case <-time.After(agentStopWait):
			slog.Warn("agents still running; shutting the API down under them")
		}
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
		if agentSrv != nil {
			_ = agentSrv.Shutdown(shutdown)
		}
	}()
	slog.Info("runplane server listening", "addr", scheme+ln.Addr().String())
	if tlsCert != "" {
		err = srv.ServeTLS(ln, tlsCert, tlsKey)
	} else {
		err = srv.Serve(ln)
	}
	if !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// tlsFiles reads RUNPLANE_TLS_CERT_FILE and RUNPLANE_TLS_KEY_FILE: both or
// neither, and a pair that loads, so a typo stops the start instead of
// the first handshake.
func tlsFiles() (cert, key string, err error) {
	cert, key = os.Getenv("RUNPLANE_TLS_CERT_FILE"), os.Getenv("RUNPLANE_TLS_KEY_FILE")
	if (cert == "") != (key == "") {
		return "", "", errors.New("set both RUNPLANE_TLS_CERT_FILE and RUNPLANE_TLS_KEY_FILE to serve HTTPS, or neither")
	}
	if cert != "" {
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			return "", "", fmt.Errorf("RUNPLANE_TLS_CERT_FILE/RUNPLANE_TLS_KEY_FILE: %w", err)
		}
	}
	return cert, key, nil
}

// serverConns sizes the server's database pool: every agent's calls, its
// terraform's state calls, the API and the tick share it, and with pgx's
// default of four on a small machine a plan's finish waited for a
// connection behind its own log's archiving before the apply could be
// claimed.
func serverConns(agents int) int32 { return int32(16 + 2*agents) }

// agentStopWait is how long a stopping server waits for its agents: a
// busy one's report is bounded by the agent's own 10 s.
const agentStopWait = 15 * time.Second

// agentEnv is a local agent's whole environment: where to claim, its
// token, and its own settings; not the server's secrets (the admin token,
// the database URL, cloud credentials).
func agentEnv(url, token, tlsCert string) []string {
	env := []string{"RUNPLANE_URL=" + url, "RUNPLANE_AGENT_TOKEN=" + token, "RUNPLANE_AGENT_CLAIM_WAIT=10m"}
	if tlsCert != "" {
		// The certificate, never its key: a run's terraform trusts the API.
		env = append(env, "RUNPLANE_AGENT_CA_FILE="+tlsCert)
	}
	for _, name := range []string{"PATH", "HOME", "TMPDIR", "TF_CLI_CONFIG_FILE", "RUNPLANE_TERRAFORM", "RUNPLANE_AGENT_SANDBOX", "RUNPLANE_AGENT_SANDBOX_BIND"} {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// secret returns the variable's value, or the one generated on the first
// start and kept in the data folder; announce, when set, prints a new one.
func secret(dataDir, variable, file, prefix, announce string) (string, error) {
	if t := os.Getenv(variable); t != "" {
		return t, nil
	}
	path := filepath.Join(dataDir, file)
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	token := prefix + base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", err
	}
	if announce != "" {
		fmt.Fprintf(os.Stderr, "\n%s (shown once, kept in %s):\n\n    %s\n\n", announce, path, token)
	}
	return token, nil
}
