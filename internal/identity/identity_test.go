package identity_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/blob"
	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/identity"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/sealed"
	"github.com/runplane/runplane/internal/testkit/pgtest"
	"github.com/runplane/runplane/internal/workspace"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// A server whose master key changed (or two with different keys on one
// database) cannot open the signing key sealed under the other: it makes
// and uses its own instead of failing every token, and both keys are
// published.
func TestEachMasterKeyGetsItsOwnSigningKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	service := func() *identity.Service {
		dir := t.TempDir()
		blobs, err := blob.NewFolder(filepath.Join(dir, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		keys, err := envelope.OpenLocalKey(filepath.Join(dir, "key"))
		if err != nil {
			t.Fatal(err)
		}
		return identity.NewService(pool, sealed.New(blobs, keys), "")
	}
	o, err := org.NewService(pool, "admin").Create(ctx, "acme", org.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := workspace.NewService(pool).Create(ctx, o.ID, workspace.CreateOptions{Name: "net"})
	if err != nil {
		t.Fatal(err)
	}
	job := identity.Job{OrganizationID: o.ID, WorkspaceID: w.ID, RunID: uuid.New(), Phase: "plan"}
	first, second := service(), service()
	// Many claims at once on a fresh database: every one gets a token, and
	// the process makes one key, not one per claim.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := first.Token(ctx, "http://runplane.test", job)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if set, err := first.JWKS(ctx); err != nil || len(set.Keys) != 1 {
		t.Fatalf("%d keys after concurrent first use (%v), want 1", len(set.Keys), err)
	}
	for i, s := range []*identity.Service{first, second, first} {
		if _, err := s.Token(ctx, "http://runplane.test", job); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	set, err := first.JWKS(ctx)
	if err != nil || len(set.Keys) != 2 {
		t.Fatalf("%d keys published (%v), want one per master key", len(set.Keys), err)
	}
}
