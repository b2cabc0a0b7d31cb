package variable_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

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

// A run gets one value per key: the workspace's own, else an attached
// set's, else a global set's, and between two sets of one kind the one
// whose name sorts first; a set's sensitive values open for the job too,
// and a detached or deleted set stops applying.
func TestVariableSetsAndPrecedence(t *testing.T) {
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
	wss := workspace.NewService(pool)
	ws, err := wss.Create(ctx, o.ID, workspace.CreateOptions{Name: "net"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := wss.Create(ctx, o.ID, workspace.CreateOptions{Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	set := func(name string, global bool, vars map[string]string) variable.Set {
		s, err := svc.CreateSet(ctx, o.ID, variable.SetInput{Name: name, Global: global})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range vars {
			if _, err := svc.CreateInSet(ctx, o.ID, s.ID, variable.Input{Key: k, Value: v, Category: variable.Env, Sensitive: k == "SECRET"}); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	set("a-global", true, map[string]string{"A": "global-a", "B": "global-b", "C": "global-c", "SECRET": "from-global"})
	set("z-global", true, map[string]string{"A": "z-global-a", "D": "z-global-d"})
	attached := set("m-attached", false, map[string]string{"A": "attached-a", "B": "attached-b"})
	if err := svc.Attach(ctx, o.ID, attached.ID, ws.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.Attach(ctx, o.ID, attached.ID, ws.ID); err != nil {
		t.Fatalf("attaching again: %v", err)
	}
	if _, err := svc.Create(ctx, o.ID, ws.ID, variable.Input{Key: "A", Value: "own-a", Category: variable.Env}); err != nil {
		t.Fatal(err)
	}
	values := func(wsID uuid.UUID) map[string]string {
		got, err := svc.ForJob(ctx, o.ID, wsID)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, v := range got {
			if _, dup := out[v.Key]; dup {
				t.Fatalf("%s given twice: %+v", v.Key, got)
			}
			out[v.Key] = v.Value
		}
		return out
	}
	want := map[string]string{"A": "own-a", "B": "attached-b", "C": "global-c", "D": "z-global-d", "SECRET": "from-global"}
	if got := values(ws.ID); !maps.Equal(got, want) {
		t.Fatalf("net gets %v, want %v", got, want)
	}
	if got := values(other.ID); got["A"] != "global-a" || got["B"] != "global-b" {
		t.Fatalf("app (no attachment) gets %v", got)
	}
	if err := svc.Detach(ctx, o.ID, attached.ID, ws.ID); err != nil {
		t.Fatal(err)
	}
	if got := values(ws.ID); got["B"] != "global-b" {
		t.Fatalf("after detaching, net gets %v", got)
	}
	if err := svc.DeleteSet(ctx, o.ID, attached.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.GetSet(ctx, o.ID, attached.ID); !errors.Is(err, variable.ErrSetNotFound) {
		t.Fatalf("a deleted set: %v", err)
	}
	if _, err := svc.CreateSet(ctx, o.ID, variable.SetInput{Name: "a-global"}); !errors.Is(err, variable.ErrSetExists) {
		t.Fatalf("a second set of one name: %v", err)
	}
}
