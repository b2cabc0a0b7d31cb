package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/agentapi"
)

// protocolServer answers the agent's calls the way the server's handlers
// do, in the wire format both import, so the agent's side of the protocol
// is tested on its own (the end-to-end tests run it against the real
// server).
func protocolServer(t *testing.T, h http.HandlerFunc) *client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &client{base: srv.URL, token: "agent-token", http: srv.Client()}
}

func writeError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": code}})
}

// Every job call carries the agent token and the job's lease; a 409
// lease_lost is final (the job belongs to someone else now) and is not
// retried.
func TestLeaseLostIsFinal(t *testing.T) {
	t.Parallel()
	lease := uuid.New()
	var calls atomic.Int32
	c := protocolServer(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer agent-token" || r.Header.Get(agentapi.LeaseHeader) != lease.String() {
			t.Errorf("headers %v", r.Header)
		}
		writeError(w, http.StatusConflict, agentapi.CodeLeaseLost)
	})
	_, err := c.retry(context.Background(), "POST", agentapi.JobPath(uuid.New(), "finish"), lease, nil, nil)
	if !errors.Is(err, errLeaseLost) || calls.Load() != 1 {
		t.Fatalf("%v after %d calls; want errLeaseLost after 1", err, calls.Load())
	}
}

// A server restarting (5xx, refused connections) is waited out, so a
// finished job's report is not lost; a 4xx is an answer and is not
// repeated.
func TestRetryWaitsOutUnavailableButNotRefusals(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	c := protocolServer(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			writeError(w, http.StatusServiceUnavailable, "unavailable")
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"status":"finished"}`))
	})
	if _, err := c.retry(context.Background(), "POST", agentapi.JobPath(uuid.New(), "finish"), uuid.New(), nil, nil); err != nil || calls.Load() != 3 {
		t.Fatalf("%v after %d calls; want success on the third", err, calls.Load())
	}

	var refused atomic.Int32
	c = protocolServer(t, func(w http.ResponseWriter, r *http.Request) {
		refused.Add(1)
		writeError(w, http.StatusBadRequest, "invalid_request")
	})
	if _, err := c.retry(context.Background(), "POST", agentapi.JobPath(uuid.New(), "finish"), uuid.New(), nil, nil); err == nil || refused.Load() != 1 {
		t.Fatalf("%v after %d calls; want the 400 at once", err, refused.Load())
	}
}

// A claim sends the agent's name, waits through empty answers (204) and
// returns the job the server hands out; with nothing to claim it returns
// no job once its wait is over.
func TestClaimWaitsForAJob(t *testing.T) {
	t.Parallel()
	want := agentapi.Job{ID: uuid.New(), RunID: uuid.New(), WorkspaceID: uuid.New(), Phase: agentapi.PhasePlan, LeaseToken: uuid.New(), HeartbeatSeconds: 5}
	var polls atomic.Int32
	c := protocolServer(t, func(w http.ResponseWriter, r *http.Request) {
		var body agentapi.Claim
		if r.URL.Path != agentapi.ClaimPath || json.NewDecoder(r.Body).Decode(&body) != nil || body.Agent != "host/1" || r.Header.Get(agentapi.LeaseHeader) != "" {
			t.Errorf("claim %s %v", r.URL.Path, body)
		}
		if polls.Add(1) < 3 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_ = json.NewEncoder(w).Encode(want)
	})
	got, err := c.claim(context.Background(), "host/1", time.Minute)
	if err != nil || got == nil || got.ID != want.ID || got.LeaseToken != want.LeaseToken || got.Phase != want.Phase || got.HeartbeatSeconds != 5 {
		t.Fatalf("claimed %+v, %v; want %+v", got, err, want)
	}

	empty := protocolServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	if got, err := empty.claim(context.Background(), "host/1", 50*time.Millisecond); got != nil || err != nil {
		t.Fatalf("nothing to claim: %+v, %v", got, err)
	}
}
