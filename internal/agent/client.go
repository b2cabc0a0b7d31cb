package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/agentapi"
)

// errLeaseLost: the server answered 409 agentapi.CodeLeaseLost; the job is gone.
var errLeaseLost = errors.New("lease lost")

// client speaks the agent protocol.
type client struct {
	base, token string
	http        *http.Client
}

// reply is a server's answer.
type reply struct {
	status int
	body   []byte
	header http.Header
}

// call sends one request; lease is the job's lease token, or uuid.Nil for
// the claim.
func (c *client) call(ctx context.Context, method, path string, lease uuid.UUID, body []byte, out any) (int, []byte, error) {
	r, err := c.send(ctx, method, path, lease, nil, body, out)
	return r.status, r.body, err
}

// send is call with extra request headers, answering the whole reply.
func (c *client) send(ctx context.Context, method, path string, lease uuid.UUID, header map[string]string, body []byte, out any) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if lease != uuid.Nil {
		req.Header.Set(agentapi.LeaseHeader, lease.String())
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return exchange(c.http, req, out)
}

// readAnswer sends req and reads the whole answer, whatever its status.
func readAnswer(hc *http.Client, req *http.Request) (reply, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode, header: resp.Header}
	r.body, err = io.ReadAll(resp.Body)
	return r, err
}

// exchange sends req and reads the answer; one of 300 or more is an error
// carrying the answer's body.
func exchange(hc *http.Client, req *http.Request, out any) (reply, error) {
	r, err := readAnswer(hc, req)
	if err != nil {
		return r, err
	}
	if r.status == http.StatusConflict && bytes.Contains(r.body, []byte(`"`+agentapi.CodeLeaseLost+`"`)) {
		return r, errLeaseLost
	}
	if r.status >= 300 {
		return r, fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, r.status, bytes.TrimSpace(r.body))
	}
	if out != nil && r.status != http.StatusNoContent {
		if err := json.Unmarshal(r.body, out); err != nil {
			return r, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	return r, nil
}

// retryBudget is how long a call is repeated: longer than a server restart
// or a database failover, so that neither loses a finished job.
const retryBudget = 3 * time.Minute

// retry repeats a call that failed for a reason other than a definite
// answer (network errors, 5xx) for up to retryBudget, backing off to 5 s.
func (c *client) retry(ctx context.Context, method, path string, lease uuid.UUID, body []byte, out any) ([]byte, error) {
	r, err := c.retrySend(ctx, method, path, lease, nil, body, out)
	return r.body, err
}

// retrySend is retry with extra request headers, answering the whole reply.
func (c *client) retrySend(ctx context.Context, method, path string, lease uuid.UUID, header map[string]string, body []byte, out any) (reply, error) {
	return retrying(ctx, method+" "+path, func() (reply, error) {
		return c.send(ctx, method, path, lease, header, body, out)
	})
}

// retrying repeats do while it fails for a reason other than a definite
// answer (network errors, 5xx), for up to retryBudget, backing off to 5 s.
func retrying(ctx context.Context, what string, do func() (reply, error)) (reply, error) {
	deadline := time.Now().Add(retryBudget)
	wait := 100 * time.Millisecond
	for {
		r, err := do()
		if err == nil || errors.Is(err, errLeaseLost) || (r.status >= 400 && r.status < 500) {
			return r, err
		}
		slog.Warn("call failed; retrying", "call", what, "status", r.status, "err", err)
		if time.Now().Add(wait).After(deadline) {
			return r, err
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(wait/2 + rand.N(wait)):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// claim long-polls until a job arrives or wait passes.
func (c *client) claim(ctx context.Context, name string, wait time.Duration) (*agentapi.Job, error) {
	body, _ := json.Marshal(agentapi.Claim{Agent: name})
	deadline := time.Now().Add(wait)
	for {
		var j agentapi.Job
		status, _, err := c.call(ctx, "POST", agentapi.ClaimPath, uuid.Nil, body, &j)
		if err == nil && status == http.StatusOK {
			return &j, nil
		}
		if err != nil && (status == http.StatusUnauthorized || status == http.StatusBadRequest) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		if err != nil {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Second):
			}
		}
	}
}
