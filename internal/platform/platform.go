// Package platform wires the database, the domain services and the HTTP API
// together. `runplane server` and every Lambda function start from Open, so
// they all run the same code on the same configuration.
package platform

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runplane/runplane/db"
	"github.com/runplane/runplane/internal/httpapi"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/schedule"
	"github.com/runplane/runplane/internal/sealed"
	"github.com/runplane/runplane/internal/state"
	"github.com/runplane/runplane/internal/workspace"
)

// Platform is a connected set of services.
type Platform struct {
	Pool    *pgxpool.Pool
	Runs    *run.Service
	Handler http.Handler
}

// ErrNoAdminToken: the site-admin token must be configured.
var ErrNoAdminToken = errors.New("RUNPLANE_ADMIN_TOKEN is empty")

// Config is what a platform is opened with.
type Config struct {
	DatabaseURL string
	AdminToken  string
	Storage     Storage
}

// Open connects to the database and storage and builds the services. It
// does not migrate: the server migrates at start, a deployment runs
// `runplane migrate`.
func Open(ctx context.Context, c Config) (*Platform, error) {
	if c.AdminToken == "" {
		return nil, ErrNoAdminToken
	}
	blobs, keys, err := c.Storage.open(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(c.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	runs := run.NewService(pool, run.DefaultConfig)
	handler := httpapi.New(httpapi.Services{
		Orgs:       org.NewService(pool, c.AdminToken),
		Workspaces: workspace.NewService(pool),
		Runs:       runs,
		State:      state.NewService(pool, sealed.New(blobs, keys)),
		Health: func(ctx context.Context) error {
			pending, err := db.Pending(ctx, pool)
			if err == nil && pending {
				err = errors.New("migrations pending")
			}
			return err
		},
	})
	return &Platform{Pool: pool, Runs: runs, Handler: handler}, nil
}

// Tick runs the scheduler's safety net once.
func (p *Platform) Tick(ctx context.Context) (schedule.Result, error) {
	return schedule.Tick(ctx, p.Pool)
}

// Close releases the database connections.
func (p *Platform) Close() { p.Pool.Close() }
