package trigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/run"
)

// OutputsChanged reports whether a workspace's state version changed its
// outputs from the version before (internal/state provides it).
type OutputsChanged func(ctx context.Context, orgID, wsID uuid.UUID, versionID *uuid.UUID) (bool, error)

// Cascade turns state_changed events into downstream runs.
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

// Deliver handles one state_changed event: one pending triggered run per
// descendant of the changed workspace, joining a triggered run still
// pending there (every cause is recorded), then admission wherever the
// upstreams allow. Delivering an event twice does nothing the second time.
func (c *Cascade) Deliver(ctx context.Context, eventID uuid.UUID) error {
	err := dbtx.Run(ctx, c.db, func(q *dbsqlc.Queries) error {
		ev, err := q.OutboxGetForUpdate(ctx, eventID)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: event %s", ErrNotFound, eventID)
		}
		if err != nil || ev.DeliveredAt != nil {
			return err
		}
		descendants, err := c.descendants(ctx, q, ev)
		if err != nil {
			return err
		}
		upstream, err := q.WorkspaceGet(ctx, dbsqlc.WorkspaceGetParams{ID: ev.WorkspaceID, OrganizationID: ev.OrganizationID})
		if err != nil {
			return err
		}
		// Every pending run first, then admission: a workspace whose upstream
		// in this cascade has not got its run yet must not start early.
		for _, d := range descendants {
			r, err := q.RunPendingTriggered(ctx, dbsqlc.RunPendingTriggeredParams{WorkspaceID: d, OrganizationID: ev.OrganizationID})
			if errors.Is(err, pgx.ErrNoRows) {
				r, err = c.runs.CreateTx(ctx, q, ev.OrganizationID, d, run.CreateOptions{
					Triggered: true, Message: fmt.Sprintf("triggered by an apply of %s (run %s)", upstream.Name, ev.RunID),
				})
			}
			if err != nil {
				return err
			}
			if err := q.RunCauseAdd(ctx, dbsqlc.RunCauseAddParams{
				RunID: r.ID, EventID: ev.ID, OrganizationID: ev.OrganizationID, UpstreamWorkspaceID: ev.WorkspaceID, UpstreamRunID: ev.RunID,
			}); err != nil {
				return err
			}
		}
		// Delivered first: admission below must no longer count this event
		// as an upstream apply still to be fanned out.
		now := c.now().UTC()
		if err := q.OutboxMarkDelivered(ctx, dbsqlc.OutboxMarkDeliveredParams{Now: &now, ID: ev.ID}); err != nil {
			return err
		}
		for _, d := range descendants {
			if _, err := run.AdmitNext(ctx, q, ev.OrganizationID, d, now); err != nil {
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
func (c *Cascade) descendants(ctx context.Context, q *dbsqlc.Queries, ev dbsqlc.Outbox) ([]uuid.UUID, error) {
	direct, err := q.TriggerDownstreamOf(ctx, dbsqlc.TriggerDownstreamOfParams{UpstreamID: ev.WorkspaceID, OrganizationID: ev.OrganizationID})
	if err != nil {
		return nil, err
	}
	var changed *bool
	var queue []uuid.UUID
	for _, e := range direct {
		if On(e.OnEvent) == OnOutputsChanged {
			if changed == nil {
				ch, err := c.outputsChanged(ctx, ev.OrganizationID, ev.WorkspaceID, ev.StateVersionID)
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
		next, err := q.TriggerDownstreamOf(ctx, dbsqlc.TriggerDownstreamOfParams{UpstreamID: d, OrganizationID: ev.OrganizationID})
		if err != nil {
			return nil, err
		}
		for _, e := range next {
			queue = append(queue, e.DownstreamID)
		}
	}
	return out, nil
}

// Relay delivers every undelivered event, oldest first, up to max; it is
// the local relay's step and the tick's safety net. It returns how many it
// delivered.
func (c *Cascade) Relay(ctx context.Context, max int) (int, error) {
	ids, err := dbsqlc.New(c.db).OutboxListUndelivered(ctx, int32(max))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if err := c.Deliver(ctx, id); err != nil {
			slog.ErrorContext(ctx, "delivering a state_changed event", "event", id, "err", err)
			return n, err
		}
		n++
	}
	return n, nil
}
