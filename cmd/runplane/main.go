// Command runplane is the Runplane CLI. `runplane server` runs the whole
// platform in one process on embedded defaults; `runplane migrate` applies
// the schema to DATABASE_URL (the deploy step on AWS).
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runplane/runplane/db"
	"github.com/runplane/runplane/internal/pgembed"
	"github.com/runplane/runplane/internal/platform"
)

const usage = `usage: runplane <command>

commands:
  server    run the platform in one process (API, scheduler) on embedded defaults
  migrate   apply database migrations to DATABASE_URL

environment:
  DATABASE_URL          PostgreSQL/CockroachDB URL; empty starts an embedded PostgreSQL
  RUNPLANE_ADDR         listen address (default 127.0.0.1:8080)
  RUNPLANE_DATA_DIR     data folder: embedded database, admin token, state blobs and
                        the local state key when S3/KMS are not set (default ./.runplane)
  RUNPLANE_ADMIN_TOKEN  site-admin token; generated and printed once when unset
  RUNPLANE_S3_BUCKET    store sealed state in this S3 bucket instead of the data folder
  RUNPLANE_S3_ENDPOINT  S3-compatible endpoint (path-style), for servers other than AWS
  RUNPLANE_KMS_KEY_ID   wrap state data keys with this KMS key instead of the local key file
  RUNPLANE_KMS_ENDPOINT KMS-compatible endpoint, for servers other than AWS
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
	adminToken, err := adminToken(dataDir)
	if err != nil {
		return err
	}
	storage := platform.StorageFromEnv(os.Getenv)
	storage.DataDir = dataDir
	p, err := platform.Open(ctx, platform.Config{DatabaseURL: databaseURL, AdminToken: adminToken, Storage: storage})
	if err != nil {
		return err
	}
	defer p.Close()
	if err := db.Migrate(ctx, p.Pool); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: p.Handler, ReadHeaderTimeout: 10 * time.Second}
	go tickLoop(ctx, p)
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("runplane server listening", "addr", "http://"+ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// tickInterval: the tick is only a safety net; events admit runs at once.
const tickInterval = 5 * time.Second

func tickLoop(ctx context.Context, p *platform.Platform) {
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if res, err := p.Tick(ctx); err != nil && ctx.Err() == nil {
				slog.Error("tick failed", "err", err)
			} else if res.Admitted > 0 {
				slog.Info("tick admitted runs a lost event left behind", "admitted", res.Admitted)
			}
		}
	}
}

// adminToken returns RUNPLANE_ADMIN_TOKEN, or the one generated on the first
// start and kept in the data folder, printing it when it is new.
func adminToken(dataDir string) (string, error) {
	if t := os.Getenv("RUNPLANE_ADMIN_TOKEN"); t != "" {
		return t, nil
	}
	path := filepath.Join(dataDir, "admin-token")
	if b, err := os.ReadFile(path); err == nil {
		slog.Info("using the site-admin token generated earlier", "file", path)
		return strings.TrimSpace(string(b)), nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	token := "rpadmin_" + base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "\nSite-admin token (shown once, kept in %s):\n\n    %s\n\n", path, token)
	return token, nil
}
