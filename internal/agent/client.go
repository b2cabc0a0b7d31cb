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

// call sends one request; lease is the job's lease token, or uuid.Nil for
// the claim.
func (c *client) call(ctx context.Context, method, path string, lease uuid.UUID, body []byte, out any) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if lease != uuid.Nil {
		req.Header.Set(agentapi.LeaseHeader, lease.String())
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if resp.StatusCode == http.StatusConflict && bytes.Contains(raw, []byte(`"`+agentapi.CodeLeaseLost+`"`)) {
		return resp.StatusCode, raw, errLeaseLost
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, raw, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, raw, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, raw, nil
}

// retryBudget is how long a call is repeated: longer than a server restart
// or a database failover, so that neither loses a finished job.
const retryBudget = 3 * time.Minute

// retry repeats a call that failed for a reason other than a definite
// answer (network errors, 5xx) for up to retryBudget, backing off to 5 s.
func (c *client) retry(ctx context.Context, method, path string, lease uuid.UUID, body []byte, out any) ([]byte, error) {
	deadline := time.Now().Add(retryBudget)
	wait := 100 * time.Millisecond
	for {
		status, raw, err := c.call(ctx, method, path, lease, body, out)
		if err == nil || errors.Is(err, errLeaseLost) || (status >= 400 && status < 500) {
			return raw, err
		}
		slog.Warn("call failed; retrying", "method", method, "path", path, "status", status, "err", err)
		if time.Now().Add(wait).After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
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
