// Package platform wires the database, the domain services and the HTTP API
// together. `runplane server` and every Lambda function start from Open, so
// they all run the same code on the same configuration.
package platform

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runplane/runplane/db"
	"github.com/runplane/runplane/internal/audit"
	"github.com/runplane/runplane/internal/configversion"
	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/httpapi"
	"github.com/runplane/runplane/internal/identity"
	"github.com/runplane/runplane/internal/jobs"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/policy"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/schedule"
	"github.com/runplane/runplane/internal/sealed"
	"github.com/runplane/runplane/internal/state"
	"github.com/runplane/runplane/internal/tfeapi"
	"github.com/runplane/runplane/internal/trigger"
	"github.com/runplane/runplane/internal/variable"
	"github.com/runplane/runplane/internal/web"
	"github.com/runplane/runplane/internal/workspace"
)

// Platform is a connected set of services.
type Platform struct {
	cfg       Config
	Pool      *pgxpool.Pool
	Runs      *run.Service
	Jobs      *jobs.Service
	Events    *events.Dispatcher
	Scheduler *schedule.Scheduler
	Handler   http.Handler
}

// Open connects to the database and storage and builds the services. It
// does not migrate: the server migrates at start, a deployment runs
// `runplane migrate`.
func Open(ctx context.Context, c Config) (*Platform, error) {
	return open(ctx, c, awsConfig(ctx))
}

// open is Open with the AWS configuration loaded once for every client,
// however many ask for it.
func open(ctx context.Context, c Config, loadAWS func() (aws.Config, error)) (*Platform, error) {
	if err := c.Require(Needs{Database: true}); err != nil {
		return nil, err
	}
	blobs, keys, err := c.Storage.open(loadAWS)
	if err != nil {
		return nil, err
	}
	queue, err := c.EventQueue.open(loadAWS)
	if err != nil {
		return nil, err
	}
	launcher, err := c.AgentTasks.open(loadAWS, c.AgentPoolSize)
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
	if c.Agent == (jobs.Config{}) {
		c.Agent = jobs.DefaultConfig
	}
	if c.Events == (events.Config{}) {
		c.Events = events.DefaultConfig
	}
	objects := sealed.New(blobs, keys)
	hint := jobs.NewHint()
	wake := hint.Notify
	if c.NoClaimHint {
		wake = func() {}
	}
	runs := run.NewService(pool, run.DefaultConfig, wake)
	configs := configversion.NewService(pool, objects)
	dispatch := events.NewDispatcher(pool, c.Events, queue)
	vars := variable.NewService(pool, objects)
	agents := jobs.NewService(pool, runs, configs, objects, vars, hint, dispatch, c.Agent)
	policies := policy.NewService(pool, runs, agents)
	states := state.NewService(pool, objects)
	cascade := trigger.NewCascade(pool, runs, states.OutputsChanged)
	// What reacts to what: the only registrations there are.
	dispatch.Handle(events.RunNeedsPolicyCheck, policies.HandleNeedsCheck)
	dispatch.Handle(events.StateChanged, cascade.Deliver)
	orgs, workspaces, triggers := org.NewService(pool, c.AdminToken), workspace.NewService(pool), trigger.NewService(pool)
	if c.WorkspaceRetention > 0 {
		workspaces.Retention = c.WorkspaceRetention
	}
	trail := audit.NewService(pool)
	secret := c.AdminToken
	if secret == "" {
		secret = rand.Text()
	}
	handler := httpapi.New(httpapi.Services{
		Web: web.New(web.Services{
			Orgs: orgs, Workspaces: workspaces, Runs: runs, State: states, Configs: configs, Jobs: agents,
			Triggers: triggers, Policies: policies, Key: web.Key(secret), PoolSize: c.AgentPoolSize,
		}),
		Orgs:       orgs,
		Workspaces: workspaces,
		TFE: tfeapi.New(tfeapi.Services{
			Orgs: orgs, Workspaces: workspaces, Variables: vars, Triggers: triggers, Configs: configs, Runs: runs,
			Jobs: agents, State: states, Policies: policies, URLKey: tfeapi.URLKey(secret),
		}),
		Runs:       runs,
		State:      states,
		Configs:    configs,
		Agents:     agents,
		Triggers:   triggers,
		Policies:   policies,
		Events:     dispatch,
		Variables:  vars,
		Audit:      trail,
		Identity:   identity.NewService(pool, objects, c.WorkloadIdentityAudience),
		AgentToken: c.AgentToken,
		Health: func(ctx context.Context) error {
			pending, err := db.Pending(ctx, pool)
			if err == nil && pending {
				err = errors.New("migrations pending")
			}
			return err
		},
	})
	scheduler := &schedule.Scheduler{
		DB: pool, Agents: agents, Events: dispatch, PoolSize: c.AgentPoolSize,
		Workspaces: workspaces, Audit: trail,
	}
	if launcher != nil {
		scheduler.Launcher = launcher
	}
	return &Platform{cfg: c, Pool: pool, Runs: runs, Jobs: agents, Events: dispatch, Handler: handler, Scheduler: scheduler}, nil
}

// urlKey signs the TFE API's capability URLs. It derives from the admin
// token, which every API process holds, so a URL one process made works
// at any; without one, URLs work only at the process that made them.
// Config returns the configuration the platform was opened with.
func (p *Platform) Config() Config { return p.cfg }

// Close releases the database connections.
func (p *Platform) Close() { p.Pool.Close() }
