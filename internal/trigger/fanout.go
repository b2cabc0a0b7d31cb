package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/run"
)

// OutputsChanged reports whether a workspace's state version changed its
// outputs from the version before (internal/state provides it).
type OutputsChanged func(ctx context.Context, orgID, wsID uuid.UUID, versionID *uuid.UUID) (bool, error)

// Cascade turns state.changed events into downstream runs.
type Cascade struct {
	db             DB
	runs           *run.Service
	outputsChanged OutputsChanged
	now            func() time.Time
}

// NewCascade returns a Cascade.
func NewCascade(db DB, runs *run.Service, outputsChanged OutputsChanged) *Cascade {
	return &Cascade{db: db, runs: runs, outputsChanged: outputsChanged, now: time.Now}
}

// Deliver is the handler of state.changed events: one pending triggered
// run per descendant of the changed workspace, joining a triggered run
// still pending there (every cause is recorded), then admission wherever
// the upstreams allow, in the transaction that records the delivery.
// Delivering an event twice does nothing the second time.
func (c *Cascade) Deliver(ctx context.Context, d *events.Delivery) error {
	var change events.StateChange
	if err := json.Unmarshal(d.Payload, &change); err != nil {
		return fmt.Errorf("state.changed %s: payload: %w", d.ID, err)
	}
	if d.RunID == nil {
		return fmt.Errorf("state.changed %s names no run", d.ID)
	}
	upstreamRun := *d.RunID
	err := d.Commit(ctx, func(q *dbsqlc.Queries) error {
		// The delivery is recorded before this runs: admission below no
		// longer counts this event as an upstream apply still to fan out.
		descendants, err := c.descendants(ctx, q, d.OrganizationID, d.WorkspaceID, change.StateVersionID)
		if err != nil {
			return err
		}
		upstream, err := q.WorkspaceGet(ctx, dbsqlc.WorkspaceGetParams{ID: d.WorkspaceID, OrganizationID: d.OrganizationID})
		if err != nil {
			return err
		}
		// Every pending run first, then admission: a workspace whose upstream
		// in this cascade has not got its run yet must not start early.
		for _, ds := range descendants {
			pending, err := q.RunPendingTriggered(ctx, dbsqlc.RunPendingTriggeredParams{WorkspaceID: ds, OrganizationID: d.OrganizationID})
			runID := pending.ID
			if errors.Is(err, pgx.ErrNoRows) {
				runID, err = c.runs.CreateTx(ctx, q, d.OrganizationID, ds, run.CreateOptions{
					Triggered: true, Message: fmt.Sprintf("triggered by an apply of %s (run %s)", upstream.Name, upstreamRun),
				})
			}
			if err != nil {
				return err
			}
			if err := q.RunCauseAdd(ctx, dbsqlc.RunCauseAddParams{
				RunID: runID, EventID: d.ID, OrganizationID: d.OrganizationID, UpstreamWorkspaceID: d.WorkspaceID, UpstreamRunID: upstreamRun,
			}); err != nil {
				return err
			}
		}
		now := c.now().UTC()
		for _, ds := range descendants {
			if _, err := run.AdmitNext(ctx, q, d.OrganizationID, ds, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		c.runs.Queued()
	}
	return err
}

// descendants walks the edges out of the event's workspace, breadth first.
// An outputs_changed edge out of it is followed only if the outputs changed.
func (c *Cascade) descendants(ctx context.Context, q *dbsqlc.Queries, orgID, workspaceID uuid.UUID, version *uuid.UUID) ([]uuid.UUID, error) {
	direct, err := q.TriggerDownstreamOf(ctx, dbsqlc.TriggerDownstreamOfParams{UpstreamID: workspaceID, OrganizationID: orgID})
	if err != nil {
		return nil, err
	}
	var changed *bool
	var queue []uuid.UUID
	for _, e := range direct {
		if On(e.OnEvent) == OnOutputsChanged {
			if changed == nil {
				ch, err := c.outputsChanged(ctx, orgID, workspaceID, version)
				if err != nil {
					return nil, err
				}
				changed = &ch
			}
			if !*changed {
				continue
			}
		}
		queue = append(queue, e.DownstreamID)
	}
	seen := map[uuid.UUID]bool{}
	var out []uuid.UUID
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, d)
		next, err := q.TriggerDownstreamOf(ctx, dbsqlc.TriggerDownstreamOfParams{UpstreamID: d, OrganizationID: orgID})
		if err != nil {
			return nil, err
		}
		for _, e := range next {
			queue = append(queue, e.DownstreamID)
		}
	}
	return out, nil
}
