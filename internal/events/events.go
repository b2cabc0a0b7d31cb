package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/fault"
)

// Kind names what happened.
type Kind string

const (
	// RunNeedsPolicyCheck: a run's plan finished in an organization with
	// policies; the run waits in policy_checking until it is checked.
	RunNeedsPolicyCheck Kind = "run.needs_policy_check"
	// StateChanged: an apply finished; the payload is a StateChange. The
	// workspace's dependents get their triggered runs from it.
	StateChanged Kind = "state.changed"
)

// StateChange is a StateChanged event's payload.
type StateChange struct {
	// StateVersionID is the workspace's current state version when the
	// run applied (nil: none).
	StateVersionID *uuid.UUID `json:"state_version_id,omitempty"`
}

// ErrNotFound: no such event, or not in the state the action needs.
var ErrNotFound = fault.New(fault.NotFound, "not_found", "event not found")

// Event is one row of the log.
type Event struct {
	ID             uuid.UUID       `json:"id"`
	Kind           Kind            `json:"kind"`
	OrganizationID uuid.UUID       `json:"organization_id"`
	WorkspaceID    uuid.UUID       `json:"workspace_id"`
	RunID          *uuid.UUID      `json:"run_id,omitempty"`
	Payload        json.RawMessage `json:"payload"`
	CreatedAt      time.Time       `json:"created_at"`
	Attempts       int             `json:"attempts"`
	NextAttemptAt  time.Time       `json:"next_attempt_at"`
	LastError      string          `json:"last_error,omitempty"`
	DeliveredAt    *time.Time      `json:"delivered_at,omitempty"`
	DeadAt         *time.Time      `json:"dead_at,omitempty"`
}

// Status is pending, delivered or dead.
func (e Event) Status() string {
	switch {
	case e.DeliveredAt != nil:
		return "delivered"
	case e.DeadAt != nil:
		return "dead"
	}
	return "pending"
}

// Emit writes an event in the caller's transaction, due at once. payload
// is marshalled to JSON; nil is an empty object.
func Emit(ctx context.Context, q *dbsqlc.Queries, kind Kind, orgID, workspaceID uuid.UUID, runID *uuid.UUID, payload any, now time.Time) error {
	body := []byte("{}")
	if payload != nil {
		var err error
		if body, err = json.Marshal(payload); err != nil {
			return fmt.Errorf("event %s: %w", kind, err)
		}
	}
	_, err := q.EventAdd(ctx, dbsqlc.EventAddParams{
		OrganizationID: orgID, WorkspaceID: workspaceID, RunID: runID, Kind: string(kind), Payload: body, Now: now,
	})
	return err
}

func view(e dbsqlc.Event) Event {
	return Event{
		ID: e.ID, Kind: Kind(e.Kind), OrganizationID: e.OrganizationID, WorkspaceID: e.WorkspaceID, RunID: e.RunID,
		Payload: e.Payload, CreatedAt: e.CreatedAt, Attempts: int(e.Attempts), NextAttemptAt: e.NextAttemptAt,
		LastError: e.LastError, DeliveredAt: e.DeliveredAt, DeadAt: e.DeadAt,
	}
}
