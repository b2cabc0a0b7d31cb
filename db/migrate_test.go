package db_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

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
