// Package pgtest gives each test its own freshly migrated database on a real
// PostgreSQL: the cluster named by DATABASE_URL, or else a throwaway cluster
// the test binary starts in a temporary folder and stops when it exits.
//
// A package that uses it calls pgtest.Main from TestMain.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runplane/runplane/db"
	"github.com/runplane/runplane/internal/pgembed"
)

const templateDB = "runplane_template"

var (
	adminURL  string
	urlFor    func(name string) string
	createMu  sync.Mutex
	dbCounter atomic.Int64
)

// Main starts the database for a test binary, runs the tests and cleans up.
func Main(m *testing.M) int {
	ctx := context.Background()
	var stop func()
	if url := os.Getenv("DATABASE_URL"); url != "" {
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: DATABASE_URL:", err)
			return 2
		}
		adminURL = url
		urlFor = func(name string) string { return replaceDatabase(url, cfg.Database, name) }
		stop = func() {}
	} else {
		dir, err := os.MkdirTemp("", "rp-pgtest-")
		if err == nil {
			// Traversable, so the server can run as another user when we are root.
			err = os.Chmod(dir, 0o711)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
			return 2
		}
		cluster, err := pgembed.Start(ctx, dir+"/data", pgembed.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: cannot start PostgreSQL:", err)
			return 2
		}
		adminURL = cluster.URL("postgres")
		urlFor = cluster.URL
		stop = func() { _ = cluster.Stop(true); _ = os.RemoveAll(dir) }
	}
	defer stop()
	if err := prepareTemplate(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 2
	}
	return m.Run()
}

// prepareTemplate builds one migrated database that every test copies.
func prepareTemplate(ctx context.Context) error {
	name := fmt.Sprintf("%s_%d", templateDB, os.Getpid())
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, urlFor(name))
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := db.Migrate(ctx, pool); err != nil {
		return err
	}
	templateName = name
	return nil
}

var templateName string

// New returns a pool on a new, migrated database used by this test only.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("rp_test_%d_%d", os.Getpid(), dbCounter.Add(1))
	createMu.Lock()
	conn, err := pgx.Connect(ctx, adminURL)
	if err == nil {
		_, err = conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, templateName))
		conn.Close(ctx)
	}
	createMu.Unlock()
	if err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	cfg, err := pgxpool.ParseConfig(urlFor(name))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 40
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// URL returns a connection string for a new, migrated database, for tests
// that start processes of their own.
func URL(t testing.TB) string {
	t.Helper()
	pool := New(t)
	return urlFor(pool.Config().ConnConfig.Database)
}

func replaceDatabase(url, from, to string) string {
	if from == "" {
		return url
	}
	return strings.Replace(url, "/"+from, "/"+to, 1)
}

// Dump returns every row of the pool's database as pg_dump writes it: what
// a test greps for data that must never be stored in clear.
func Dump(t testing.TB, pool *pgxpool.Pool) []byte {
	t.Helper()
	tool, err := pgembed.Tool("pg_dump")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	out, err := exec.Command(tool, "--data-only", "--dbname="+urlFor(pool.Config().ConnConfig.Database)).Output()
	if err != nil {
		t.Fatalf("pgtest: pg_dump: %v", err)
	}
	return out
}
