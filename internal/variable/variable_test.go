package variable_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runplane/runplane/internal/blob"
	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/sealed"
	"github.com/runplane/runplane/internal/testkit/pgtest"
	"github.com/runplane/runplane/internal/validate"
	"github.com/runplane/runplane/internal/variable"
	"github.com/runplane/runplane/internal/workspace"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// A sensitive value is stored sealed and opens for the job at once, through
// the same data-key cache the platform uses (a sealing that wiped the
// cached key made every fresh value unreadable until the cache expired),
// and a value moved to another variable's row does not open.
func TestSensitiveValuesAreSealedAndOpenForJobs(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	ctx := context.Background()
	dir := t.TempDir()
	blobs, err := blob.NewFolder(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := envelope.OpenLocalKey(filepath.Join(dir, "key"))
	if err != nil {
		t.Fatal(err)
	}
	svc := variable.NewService(pool, sealed.New(blobs, envelope.NewCache(key, time.Minute, 100)))
	o, err := org.NewService(pool, "admin").Create(ctx, "acme", org.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := workspace.NewService(pool).Create(ctx, o.ID, workspace.CreateOptions{Name: "net"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := svc.Create(ctx, o.ID, ws.ID, variable.Input{Key: "A", Value: "value-of-a", Category: variable.Env, Sensitive: true})
	if err != nil || a.Value != "" {
		t.Fatalf("create: %+v %v", a, err)
	}
	b, err := svc.Create(ctx, o.ID, ws.ID, variable.Input{Key: "B", Value: "value-of-b", Category: variable.Env, Sensitive: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.ForJob(ctx, o.ID, ws.ID)
	if err != nil || len(got) != 2 || got[0].Value != "value-of-a" || got[1].Value != "value-of-b" {
		t.Fatalf("for the job: %+v %v", got, err)
	}
	q := dbsqlc.New(pool)
	rowA, err := q.VariableGet(ctx, dbsqlc.VariableGetParams{ID: a.ID, OrganizationID: o.ID})
	if err != nil || rowA.Value != "" || bytes.Contains(rowA.SealedValue, []byte("value-of-a")) {
		t.Fatalf("stored row %+v %v", rowA, err)
	}
	// B's row given A's sealed value: it no longer opens.
	if _, err := q.VariableUpdate(ctx, dbsqlc.VariableUpdateParams{
		ID: b.ID, OrganizationID: o.ID, Key: "B", Sensitive: true, SealedValue: rowA.SealedValue, KeyID: rowA.KeyID, WrappedKey: rowA.WrappedKey,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ForJob(ctx, o.ID, ws.ID); !errors.Is(err, sealed.ErrCorrupt) {
		t.Fatalf("a moved sealed value: %v, want ErrCorrupt", err)
	}
	// Another organization's workspace is not found, not written.
	other, err := org.NewService(pool, "admin").Create(ctx, "other", org.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(ctx, other.ID, ws.ID, variable.Input{Key: "X", Value: "x", Category: variable.Env}); !errors.Is(err, variable.ErrWorkspaceNotFound) {
		t.Fatalf("into another organization's workspace: %v", err)
	}
	var ve *validate.Error
	if _, err := svc.Update(ctx, o.ID, a.ID, variable.Patch{Sensitive: new(bool)}); !errors.As(err, &ve) {
		t.Fatalf("made readable again: %v", err)
	}
}
