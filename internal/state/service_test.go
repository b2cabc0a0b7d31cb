package state_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/blob"
	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/envelope/awskms"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/sealed"
	"github.com/runplane/runplane/internal/state"
	"github.com/runplane/runplane/internal/testkit/awstest"
	"github.com/runplane/runplane/internal/testkit/pgtest"
	"github.com/runplane/runplane/internal/workspace"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	awstest.Stop()
	os.Exit(code)
}

// backend is one storage configuration the whole suite runs on.
type backend struct {
	name string
	// open returns the store, the key provider and the folder where the
	// store's objects end up as files.
	open func(t *testing.T) (blob.Store, envelope.Provider, string)
}

var backends = []backend{
	{"embedded", func(t *testing.T) (blob.Store, envelope.Provider, string) {
		dir := t.TempDir()
		blobs, err := blob.NewFolder(filepath.Join(dir, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		keys, err := envelope.OpenLocalKey(filepath.Join(dir, "keys", "state.key"))
		if err != nil {
			t.Fatal(err)
		}
		return blobs, envelope.NewCache(keys, time.Minute, 100), filepath.Join(dir, "blobs")
	}},
	{"s3+kms", func(t *testing.T) (blob.Store, envelope.Provider, string) {
		srv := awstest.Start(t)
		bucket := srv.Bucket(t)
		keys := awskms.New(srv.KMS(), srv.Key(t))
		return blob.NewS3(srv.S3(), bucket), envelope.NewCache(keys, time.Minute, 100), filepath.Join(srv.S3Root, bucket)
	}},
}

type fixture struct {
	t       *testing.T
	ctx     context.Context
	svc     *state.Service
	runs    *run.Service
	ws      *workspace.Service
	objects string
	orgID   uuid.UUID
	wsID    uuid.UUID
	writer  org.Principal
	lineage string
}

func setup(t *testing.T, b backend) *fixture {
	t.Helper()
	pool := pgtest.New(t)
	blobs, keys, objects := b.open(t)
	ctx := context.Background()
	orgs := org.NewService(pool, "admin")
	o, err := orgs.Create(ctx, "acme", org.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wss := workspace.NewService(pool)
	w, err := wss.Create(ctx, o.ID, workspace.CreateOptions{Name: "network"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := orgs.CreateToken(ctx, o.ID, "writer", org.RoleWrite)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		t: t, ctx: ctx, svc: state.NewService(pool, sealed.New(blobs, keys)), runs: run.NewService(pool, run.DefaultConfig, nil), ws: wss,
		objects: objects, orgID: o.ID, wsID: w.ID, lineage: uuid.NewString(),
		writer: org.Principal{OrgID: o.ID, OrgName: o.Name, TokenID: tok.ID, Role: org.RoleWrite},
	}
}

// stateJSON is a Terraform state with one ordinary and one sensitive output.
func stateJSON(lineage string, serial int64, secret string) []byte {
	return []byte(fmt.Sprintf(`{
  "version": 4,
  "terraform_version": "1.11.0",
  "serial": %d,
  "lineage": %q,
  "outputs": {
    "endpoint": {"value": "db.internal:%d", "type": "string"},
    "password": {"value": %q, "type": "string", "sensitive": true}
  },
  "resources": [],
  "check_results": null
}
`, serial, lineage, serial, secret))
}

func (f *fixture) lock(p org.Principal, id string) {
	f.t.Helper()
	if err := f.svc.Lock(f.ctx, p, f.wsID, []byte(`{"ID":"`+id+`","Operation":"OperationTypeApply","Who":"test"}`)); err != nil {
		f.t.Fatalf("lock %s: %v", id, err)
	}
}

func (f *fixture) write(serial int64, secret string) state.Version {
	f.t.Helper()
	f.lock(f.writer, "w")
	defer func() {
		if err := f.svc.Unlock(f.ctx, f.writer, f.wsID, []byte(`{"ID":"w"}`)); err != nil {
			f.t.Fatal(err)
		}
	}()
	v, err := f.svc.Write(f.ctx, f.writer, f.wsID, "w", stateJSON(f.lineage, serial, secret))
	if err != nil {
		f.t.Fatalf("write serial %d: %v", serial, err)
	}
	return v
}

// snapshot is what a refused write must leave untouched.
type snapshot struct {
	current  uuid.UUID
	versions int
	objects  int
}

func (f *fixture) snapshot() snapshot {
	f.t.Helper()
	v, _, err := f.svc.Current(f.ctx, f.writer, f.wsID)
	if err != nil && !errors.Is(err, state.ErrNoState) {
		f.t.Fatal(err)
	}
	list, err := f.svc.List(f.ctx, f.orgID, f.wsID, 1<<62, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	return snapshot{current: v.ID, versions: len(list), objects: len(f.objectFiles())}
}

// objectFiles lists the stored objects as files (both stores keep them so).
func (f *fixture) objectFiles() []string {
	var files []string
	_ = filepath.WalkDir(f.objects, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
			files = append(files, p)
		}
		return nil
	})
	return files
}

func eachBackend(t *testing.T, test func(t *testing.T, f *fixture)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, setup(t, b))
		})
	}
}

func TestWriteThenReadReturnsTheSameBytes(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, f *fixture) {
		if _, _, err := f.svc.Current(f.ctx, f.writer, f.wsID); !errors.Is(err, state.ErrNoState) {
			t.Fatalf("new workspace: got %v, want ErrNoState", err)
		}
		f.write(1, "hunter2")
		v2 := f.write(2, "hunter3")
		got, data, err := f.svc.Current(f.ctx, f.writer, f.wsID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != v2.ID || got.Serial != 2 || !bytes.Equal(data, stateJSON(f.lineage, 2, "hunter3")) {
			t.Fatalf("current = %+v, %q", got, data)
		}
		list, err := f.svc.List(f.ctx, f.orgID, f.wsID, 1<<62, 10)
		if err != nil || len(list) != 2 || list[0].Serial != 2 || list[1].Serial != 1 {
			t.Fatalf("versions newest first: %+v %v", list, err)
		}
		_, old, err := f.svc.Download(f.ctx, f.orgID, list[1].ID)
		if err != nil || !bytes.Equal(old, stateJSON(f.lineage, 1, "hunter2")) {
			t.Fatalf("old version changed: %v", err)
		}
		outs, err := f.svc.Outputs(f.ctx, f.writer, f.wsID)
		if err != nil {
			t.Fatal(err)
		}
		if len(outs) != 2 || outs[0].Name != "endpoint" || string(outs[0].Value) != `"db.internal:2"` ||
			outs[1].Name != "password" || !outs[1].Sensitive || outs[1].Value != nil {
			t.Fatalf("outputs: %+v", outs)
		}
	})
}

func TestRefusedWritesChangeNothing(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.write(5, "s")
		before := f.snapshot()
		huge := append(stateJSON(f.lineage, 9, "s"), bytes.Repeat([]byte(" "), 51_000_000)...)
		cases := []struct {
			name   string
			lockID string
			body   []byte
			want   error
		}{
			{"stale serial", "w", stateJSON(f.lineage, 5, "changed"), state.ErrStaleSerial},
			{"lower serial", "w", stateJSON(f.lineage, 4, "s"), state.ErrStaleSerial},
			{"wrong lineage", "w", stateJSON("other-lineage", 6, "s"), state.ErrLineage},
			{"51 MB", "w", huge, state.ErrTooLarge},
			{"not JSON", "w", []byte("{not json"), state.ErrInvalid},
			{"not a state", "w", []byte(`{"hello":"world"}`), state.ErrInvalid},
			{"old format", "w", []byte(`{"version":3,"serial":9,"lineage":"x"}`), state.ErrInvalid},
			{"wrong lock ID", "someone-else", stateJSON(f.lineage, 6, "s"), state.ErrLocked},
		}
		f.lock(f.writer, "w")
		for _, c := range cases {
			if _, err := f.svc.Write(f.ctx, f.writer, f.wsID, c.lockID, c.body); !errors.Is(err, c.want) {
				t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			}
		}
		if err := f.svc.Unlock(f.ctx, f.writer, f.wsID, []byte(`{"ID":"w"}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Write(f.ctx, f.writer, f.wsID, "", stateJSON(f.lineage, 6, "s")); !errors.Is(err, state.ErrLockRequired) {
			t.Errorf("no lock: got %v, want ErrLockRequired", err)
		}
		if after := f.snapshot(); after != before {
			t.Fatalf("a refused write changed something: before %+v after %+v", before, after)
		}
	})
}

// A retried upload of the very bytes that became current (its answer was
// lost) succeeds without a new version.
func TestRepeatedWriteIsIdempotent(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lock(f.writer, "w")
		body := stateJSON(f.lineage, 1, "s")
		a, err := f.svc.Write(f.ctx, f.writer, f.wsID, "w", body)
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.svc.Write(f.ctx, f.writer, f.wsID, "w", body)
		if err != nil || a.ID != b.ID {
			t.Fatalf("retry: %v, %v vs %v", err, a.ID, b.ID)
		}
		if s := f.snapshot(); s.versions != 1 || s.objects != 1 {
			t.Fatalf("retry stored again: %+v", s)
		}
	})
}

func TestTamperedObjectsFailLoudly(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, f *fixture) {
		v1 := f.write(1, "a")
		v2 := f.write(2, "b")
		files := f.objectFiles()
		if len(files) != 2 {
			t.Fatalf("want 2 objects, found %v", files)
		}
		byVersion := map[uuid.UUID]string{}
		for _, p := range files {
			for _, v := range []state.Version{v1, v2} {
				if strings.HasSuffix(p, v.ID.String()) {
					byVersion[v.ID] = p
				}
			}
		}
		// Swap the two versions' objects: each now holds a valid sealed
		// state, but not its own.
		a, _ := os.ReadFile(byVersion[v1.ID])
		b, _ := os.ReadFile(byVersion[v2.ID])
		writeFile(t, byVersion[v1.ID], b)
		writeFile(t, byVersion[v2.ID], a)
		for _, v := range []state.Version{v1, v2} {
			if _, data, err := f.svc.Download(f.ctx, f.orgID, v.ID); !errors.Is(err, state.ErrCorrupt) || data != nil {
				t.Errorf("swapped object of serial %d: got %v, want ErrCorrupt and no bytes", v.Serial, err)
			}
		}
		writeFile(t, byVersion[v1.ID], a)
		writeFile(t, byVersion[v2.ID], b)
		if _, _, err := f.svc.Download(f.ctx, f.orgID, v2.ID); err != nil {
			t.Fatalf("restored object: %v", err)
		}
		// Flip one byte in the middle of the ciphertext.
		flipped := bytes.Clone(b)
		flipped[len(flipped)/2] ^= 0x01
		writeFile(t, byVersion[v2.ID], flipped)
		if _, data, err := f.svc.Current(f.ctx, f.writer, f.wsID); !errors.Is(err, state.ErrCorrupt) || data != nil {
			t.Fatalf("flipped byte: got %v, want ErrCorrupt and no bytes", err)
		}
	})
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRollbackAddsAVersion(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, f *fixture) {
		v1 := f.write(1, "first")
		f.write(2, "second")
		f.write(7, "third")
		rb, err := f.svc.Rollback(f.ctx, f.writer, f.wsID, v1.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rb.Serial != 8 || rb.RollbackOf == nil || *rb.RollbackOf != v1.ID || rb.ID == v1.ID {
			t.Fatalf("rollback version: %+v", rb)
		}
		cur, data, err := f.svc.Current(f.ctx, f.writer, f.wsID)
		if err != nil || cur.ID != rb.ID {
			t.Fatalf("current after rollback: %+v %v", cur, err)
		}
		var parsed map[string]any
		if err := json.Unmarshal(data, &parsed); err != nil || parsed["serial"] != float64(8) || parsed["lineage"] != f.lineage {
			t.Fatalf("rolled-back state: serial %v lineage %v (%v)", parsed["serial"], parsed["lineage"], err)
		}
		outs, _ := f.svc.Outputs(f.ctx, f.writer, f.wsID)
		if string(outs[0].Value) != `"db.internal:1"` {
			t.Fatalf("outputs after rollback: %s", outs[0].Value)
		}
		// History is kept: all four versions, the first one unchanged.
		if s := f.snapshot(); s.versions != 4 {
			t.Fatalf("versions: %+v", s)
		}
		_, old, err := f.svc.Download(f.ctx, f.orgID, v1.ID)
		if err != nil || !bytes.Equal(old, stateJSON(f.lineage, 1, "first")) {
			t.Fatalf("rollback rewrote the old version: %v", err)
		}
		// Terraform carries on from the rolled-back state.
		f.write(9, "after")
		// A locked state refuses a rollback.
		f.lock(f.writer, "busy")
		if _, err := f.svc.Rollback(f.ctx, f.writer, f.wsID, v1.ID); !errors.Is(err, state.ErrLocked) {
			t.Fatalf("rollback while locked: %v", err)
		}
	})
}

// While a run holds the workspace, only that run's credential may lock or
// write; everyone else sees the run as the lock holder.
func TestRunHoldsTheStateLock(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, f *fixture) {
		r, err := f.runs.Create(f.ctx, f.orgID, f.wsID, run.CreateOptions{})
		if err != nil || r.Status != run.StatusPlanQueued {
			t.Fatalf("run: %+v %v", r, err)
		}
		err = f.svc.Lock(f.ctx, f.writer, f.wsID, []byte(`{"ID":"user-lock"}`))
		var le *state.LockedError
		if !errors.As(err, &le) || le.ID != r.ID.String() || !bytes.Contains(le.Info, []byte(r.ID.String())) {
			t.Fatalf("user lock while a run holds the workspace: %v", err)
		}
		runCred := f.writer
		runCred.WorkspaceID, runCred.RunID = &f.wsID, &r.ID
		f.lock(runCred, "run-lock")
		if _, err := f.svc.Write(f.ctx, runCred, f.wsID, "run-lock", stateJSON(f.lineage, 1, "s")); err != nil {
			t.Fatalf("the holding run writes: %v", err)
		}
		if _, err := f.runs.Fire(f.ctx, f.orgID, r.ID, run.EventCancel, run.Input{}); err != nil {
			t.Fatal(err)
		}
		// The run's state lock outlives the run until released; the user
		// sees that lock now, and force-unlock clears it.
		if err := f.svc.Lock(f.ctx, f.writer, f.wsID, []byte(`{"ID":"user-lock"}`)); !errors.As(err, &le) || le.ID != "run-lock" {
			t.Fatalf("after the run: %v", err)
		}
		if err := f.svc.ForceUnlock(f.ctx, f.writer, f.wsID); err != nil {
			t.Fatal(err)
		}
		f.lock(f.writer, "user-lock")
	})
}

// A job credential reads its own state and allow-listed states; others
// look missing, and it cannot write anywhere but its own workspace.
func TestJobCredentialReachesAllowListedStateOnly(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.write(1, "s")
		allowed, err := f.ws.Create(f.ctx, f.orgID, workspace.CreateOptions{Name: "app"})
		if err != nil {
			t.Fatal(err)
		}
		other, err := f.ws.Create(f.ctx, f.orgID, workspace.CreateOptions{Name: "other"})
		if err != nil {
			t.Fatal(err)
		}
		consumers := []uuid.UUID{allowed.ID}
		if _, err := f.ws.Update(f.ctx, f.orgID, f.wsID, workspace.UpdateOptions{RemoteStateConsumers: &consumers}); err != nil {
			t.Fatal(err)
		}
		cred := func(ws uuid.UUID) org.Principal {
			p := f.writer
			p.WorkspaceID = &ws
			return p
		}
		if _, data, err := f.svc.Current(f.ctx, cred(allowed.ID), f.wsID); err != nil || len(data) == 0 {
			t.Fatalf("allowed consumer: %v", err)
		}
		if _, _, err := f.svc.Current(f.ctx, cred(other.ID), f.wsID); !errors.Is(err, state.ErrNotShared) {
			t.Fatalf("other workspace: got %v, want ErrNotShared", err)
		}
		if _, err := f.svc.Outputs(f.ctx, cred(other.ID), f.wsID); !errors.Is(err, state.ErrNotShared) {
			t.Fatalf("other workspace outputs: got %v, want ErrNotShared", err)
		}
		if err := f.svc.Lock(f.ctx, cred(allowed.ID), f.wsID, []byte(`{"ID":"x"}`)); !errors.Is(err, state.ErrReadOnly) {
			t.Fatalf("consumer locking: got %v, want ErrReadOnly", err)
		}
	})
}

// Many writers race for the lock and write serials; exactly the lock
// holder's writes land, serials strictly grow and nothing is lost.
func TestConcurrentWritersNeverShareTheLock(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, f *fixture) {
		const writers, rounds = 12, 4
		var mu sync.Mutex
		written := map[int64]bool{}
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("writer-%d", i)
				info := []byte(`{"ID":"` + id + `"}`)
				for done := 0; done < rounds; {
					if err := f.svc.Lock(f.ctx, f.writer, f.wsID, info); err != nil {
						if !errors.Is(err, state.ErrLocked) {
							t.Error(err)
							return
						}
						continue
					}
					cur, _, err := f.svc.Current(f.ctx, f.writer, f.wsID)
					if err != nil && !errors.Is(err, state.ErrNoState) {
						t.Error(err)
						return
					}
					serial := cur.Serial + 1
					if _, err := f.svc.Write(f.ctx, f.writer, f.wsID, id, stateJSON(f.lineage, serial, id)); err != nil {
						t.Errorf("lock holder %s could not write serial %d: %v", id, serial, err)
						return
					}
					mu.Lock()
					if written[serial] {
						t.Errorf("serial %d written twice", serial)
					}
					written[serial] = true
					mu.Unlock()
					if err := f.svc.Unlock(f.ctx, f.writer, f.wsID, info); err != nil {
						t.Error(err)
						return
					}
					done++
				}
			}()
		}
		wg.Wait()
		list, err := f.svc.List(f.ctx, f.orgID, f.wsID, 1<<62, 1000)
		if err != nil || len(list) != writers*rounds || list[0].Serial != writers*rounds {
			t.Fatalf("versions: %d (newest serial %d), want %d: %v", len(list), list[0].Serial, writers*rounds, err)
		}
	})
}
