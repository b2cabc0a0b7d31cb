package state_test

import (
	"bytes"
	"errors"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/agentapi"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/sealed"
	"github.com/runplane/runplane/internal/state"
	"github.com/runplane/runplane/internal/workspace"
)

// put sends a granted upload as the agent does, answering the status.
func put(t *testing.T, g agentapi.ObjectUpload, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(g.Method, g.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range g.Header {
		req.Header.Set(k, v)
	}
	req.ContentLength = int64(len(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A state uploaded straight to S3 under a grant becomes a version like any
// other once committed, and reads back, directly and through the API.
// Every commit that does not match what the grant made is refused and
// records nothing: nothing uploaded, a key made for another workspace,
// other bytes than declared; and the grant cannot overwrite what it stored.
func TestDirectUploadOnS3(t *testing.T) {
	t.Parallel()
	f := setup(t, backends[1])
	data := stateJSON(f.lineage, 1, "hunter2")
	grant := func(p org.Principal, ws uuid.UUID) agentapi.ObjectUpload {
		t.Helper()
		g, err := f.svc.GrantUpload(f.ctx, p, ws, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	f.lock(f.writer, "w")
	refused := func(what string, id uuid.UUID, c agentapi.ObjectCommit) {
		t.Helper()
		if _, err := f.svc.WriteObject(f.ctx, f.writer, f.wsID, "w", id, c); !errors.Is(err, sealed.ErrBadUpload) {
			t.Fatalf("%s: %v, want ErrBadUpload", what, err)
		}
	}

	g := grant(f.writer, f.wsID)
	_, commit, err := g.Seal(data)
	if err != nil {
		t.Fatal(err)
	}
	refused("nothing uploaded", g.ObjectID, commit)

	other, err := f.ws.Create(f.ctx, f.orgID, workspace.CreateOptions{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	foreign := grant(f.writer, other.ID)
	sealedForeign, foreignCommit, _ := foreign.Seal(data)
	if st := put(t, g, sealedForeign); st != 200 {
		t.Fatalf("put: %d", st)
	}
	refused("a key made for another workspace", g.ObjectID, foreignCommit)

	g = grant(f.writer, f.wsID)
	sealedOK, commit, _ := g.Seal(data)
	if st := put(t, g, sealedOK); st != 200 {
		t.Fatalf("put: %d", st)
	}
	lying := commit
	lying.Size--
	refused("a size other than stored", g.ObjectID, lying)
	if _, _, err := f.svc.Current(f.ctx, f.writer, f.wsID); !errors.Is(err, state.ErrNoState) {
		t.Fatalf("a refused commit left a state: %v", err)
	}

	if _, err := f.svc.WriteObject(f.ctx, f.writer, f.wsID, "not-the-lock", g.ObjectID, commit); !errors.Is(err, state.ErrLocked) {
		t.Fatalf("commit without the state lock: %v", err)
	}
	v, err := f.svc.WriteObject(f.ctx, f.writer, f.wsID, "w", g.ObjectID, commit)
	if err != nil || v.Serial != 1 {
		t.Fatalf("commit: %+v %v", v, err)
	}
	if st := put(t, g, sealedOK); st != http.StatusPreconditionFailed {
		t.Fatalf("the grant wrote over its committed object: %d", st)
	}
	_, got, err := f.svc.Current(f.ctx, f.writer, f.wsID)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read through the API: %v", err)
	}
	if outs, err := f.svc.Outputs(f.ctx, f.writer, f.wsID); err != nil || len(outs) != 2 {
		t.Fatalf("outputs of a directly uploaded state: %v %v", outs, err)
	}
}

// Storage that cannot sign requests (the embedded folder) grants nothing:
// the agent then sends the bytes through the API. A grant is for a state
// within the limit only.
func TestDirectUploadNeedsSigningStorage(t *testing.T) {
	t.Parallel()
	f := setup(t, backends[0])
	if _, err := f.svc.GrantUpload(f.ctx, f.writer, f.wsID, 10<<20); !errors.Is(err, sealed.ErrNoDirectTransfer) {
		t.Fatalf("grant on folder storage: %v", err)
	}
	s3 := setup(t, backends[1])
	if _, err := s3.svc.GrantUpload(s3.ctx, s3.writer, s3.wsID, state.MaxSize+1); !errors.Is(err, state.ErrTooLarge) {
		t.Fatalf("grant beyond the limit: %v", err)
	}
	job := s3.writer
	job.WorkspaceID = &uuid.UUID{}
	if _, err := s3.svc.GrantUpload(s3.ctx, job, s3.wsID, 100); !errors.Is(err, state.ErrNotShared) {
		t.Fatalf("grant to another workspace's job credential: %v", err)
	}
}
