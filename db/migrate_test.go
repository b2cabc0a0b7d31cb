package db_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/runplane/runplane/db"
	"github.com/runplane/runplane/internal/testkit/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// Every migration's Down undoes its Up: an operator can roll the schema
// back to nothing and forward again.
func TestMigrationsRollBackAndForward(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sqlDB := stdlib.OpenDBFromPool(pgtest.New(t))
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, os.DirFS("migrations"))
	if err != nil {
		t.Fatal(err)
	}
	newest, err := provider.GetDBVersion(ctx)
	if err != nil || newest == 0 {
		t.Fatalf("pgtest's database is at version %d (%v), want migrated", newest, err)
	}
	if _, err := provider.DownTo(ctx, 0); err != nil {
		t.Fatalf("down: %v", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if v, err := provider.GetDBVersion(ctx); err != nil || v != newest {
		t.Fatalf("version %d after rolling forward, want %d (%v)", v, newest, err)
	}
}

// Deploys that migrate at once (two pipelines, a deploy and a starting
// server) take turns: every one succeeds and the schema is whole, where
// without the lock two would create the same tables and one would fail.
func TestConcurrentMigrationsTakeTurns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	// The test database comes migrated: take it back to nothing first.
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, os.DirFS("migrations"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.DownTo(ctx, 0); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- db.Migrate(ctx, pool) }()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("a concurrent migration failed: %v", err)
		}
	}
	if pending, err := db.Pending(ctx, pool); err != nil || pending {
		t.Fatalf("after concurrent migrations: pending %v, %v", pending, err)
	}
}
