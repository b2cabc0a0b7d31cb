package pgembed_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/pgembed"
)

// A server that died without stopping its database (kill -9) starts again
// on the same folder without a person: the database left running is
// stopped and a new one started, with the data intact.
func TestStartAfterAnUncleanExit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	parent, err := os.MkdirTemp("", "rp-pgembed-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	// Traversable by the database's own user when the test runs as root.
	if err := os.Chmod(parent, 0o711); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "pg")
	first, err := pgembed.Start(ctx, dir, pgembed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	exec := func(c *pgembed.Cluster, sql string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(first, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
	// first is never stopped: its owner is gone.
	second, err := pgembed.Start(ctx, dir, pgembed.Options{})
	if err != nil {
		t.Fatalf("start after an unclean exit: %v", err)
	}
	t.Cleanup(func() { _ = second.Stop(true) })
	exec(second, "DO $$ BEGIN IF (SELECT v FROM kept) <> 42 THEN RAISE 'lost'; END IF; END $$")
}
