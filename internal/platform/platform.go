// Package platform wires the database, the domain services and the HTTP API
// together. `runplane server` and every Lambda function start from Open, so
// they all run the same code on the same configuration.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runplane/runplane/db"
	"github.com/runplane/runplane/internal/agent"
	"github.com/runplane/runplane/internal/configversion"
	"github.com/runplane/runplane/internal/httpapi"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/policy"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/schedule"
	"github.com/runplane/runplane/internal/sealed"
	"github.com/runplane/runplane/internal/state"
	"github.com/runplane/runplane/internal/trigger"
	"github.com/runplane/runplane/internal/workspace"
)

// Platform is a connected set of services.
type Platform struct {
	cfg      Config
	Pool     *pgxpool.Pool
	Runs     *run.Service
	Agents   *agent.Service
	Policies *policy.Service
	Cascade  *trigger.Cascade
	Handler  http.Handler
}

// ErrNoAdminToken: the site-admin token must be configured.
var ErrNoAdminToken = errors.New("RUNPLANE_ADMIN_TOKEN is empty")

// Config is what a platform is opened with.
type Config struct {
	DatabaseURL string
	AdminToken  string
	// AgentToken is the secret agents claim jobs with; empty turns the agent API off.
	AgentToken string
	Storage    Storage
	// Agent holds the protocol's timings; zero takes agent.DefaultConfig.
	Agent agent.Config
	// AgentPoolSize caps the agents a tick asks for (0: no cap).
	AgentPoolSize int
	// NoClaimHint leaves long-polling claims to their database poll, as on
	// AWS where no in-process hint crosses Lambda instances (benchmarks).
	NoClaimHint bool
	// Fanout is the queue for state_changed events, if any.
	Fanout Fanout
	// MaxConns sizes the database pool when DATABASE_URL does not
	// (pool_max_conns); 0 keeps pgx's default, the larger of 4 and the
	// CPU count.
	MaxConns int32
}

// Open connects to the database and storage and builds the services. It
// does not migrate: the server migrates at start, a deployment runs
// `runplane migrate`.
func Open(ctx context.Context, c Config) (*Platform, error) {
	if c.AdminToken == "" {
		return nil, ErrNoAdminToken
	}
	loadAWS := awsConfig(ctx)
	blobs, keys, err := c.Storage.open(loadAWS)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(c.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if c.MaxConns > 0 && !strings.Contains(c.DatabaseURL, "pool_max_conns") {
		cfg.MaxConns = c.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if c.Agent == (agent.Config{}) {
		c.Agent = agent.DefaultConfig
	}
	objects := sealed.New(blobs, keys)
	hint := agent.NewHint()
	runs := run.NewService(pool, run.DefaultConfig)
	if !c.NoClaimHint {
		runs.OnQueued(hint.Notify)
	}
	configs := configversion.NewService(pool, objects)
	agents := agent.NewService(pool, runs, configs, objects, hint, c.Agent)
	policies := policy.NewService(pool, runs, agents)
	agents.OnFinished(func(ctx context.Context, orgID, runID uuid.UUID, status run.Status) {
		if status != run.StatusPolicyChecking {
			return
		}
		// The tick checks whatever this misses (CheckStale).
		if err := policies.Check(ctx, orgID, runID); err != nil {
			slog.ErrorContext(ctx, "policy check failed; the tick will retry", "run", runID, "err", err)
		}
	})
	states := state.NewService(pool, objects)
	cascade := trigger.NewCascade(pool, runs, states.OutputsChanged)
	if err := c.Fanout.wire(loadAWS, agents, cascade); err != nil {
		pool.Close()
		return nil, err
	}
	handler := httpapi.New(httpapi.Services{
		Orgs:       org.NewService(pool, c.AdminToken),
		Workspaces: workspace.NewService(pool),
		Runs:       runs,
		State:      states,
		Configs:    configs,
		Agents:     agents,
		Triggers:   trigger.NewService(pool),
		Policies:   policies,
		AgentToken: c.AgentToken,
		Health: func(ctx context.Context) error {
			pending, err := db.Pending(ctx, pool)
			if err == nil && pending {
				err = errors.New("migrations pending")
			}
			return err
		},
	})
	return &Platform{cfg: c, Pool: pool, Runs: runs, Agents: agents, Policies: policies, Cascade: cascade, Handler: handler}, nil
}

// staleCheck is how long a run may sit in policy_checking before the tick
// checks it: longer than the finish that normally does it can take.
const staleCheck = 30 * time.Second

// Tick runs the scheduler's safety net once: reap expired leases, deliver
// state_changed events no relay delivered, check plans whose policy check
// was missed, then admit whatever a lost event left pending. A step that
// fails is reported and the others still run: one broken item must not
// stop every organization's repairs.
func (p *Platform) Tick(ctx context.Context) (schedule.Result, error) {
	var res schedule.Result
	var errs []error
	var err error
	if res.Reaped, err = p.Agents.Reap(ctx); err != nil {
		errs = append(errs, fmt.Errorf("tick: reap: %w", err))
	}
	if res.Relayed, err = p.Cascade.Relay(ctx, 500); err != nil {
		errs = append(errs, fmt.Errorf("tick: relay: %w", err))
	}
	if res.PolicyChecked, err = p.Policies.CheckStale(ctx, staleCheck, 100); err != nil {
		errs = append(errs, fmt.Errorf("tick: policy checks: %w", err))
	}
	admitted, err := schedule.Tick(ctx, p.Pool)
	res.Admitted = admitted.Admitted
	if err != nil {
		errs = append(errs, err)
	}
	pool := p.cfg.AgentPoolSize
	if pool <= 0 {
		pool = 1 << 30
	}
	if res.Agents, err = p.Agents.Claimable(ctx, pool); err != nil {
		errs = append(errs, fmt.Errorf("tick: claimable: %w", err))
	}
	return res, errors.Join(errs...)
}

// Close releases the database connections.
func (p *Platform) Close() { p.Pool.Close() }
