package trigger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/fault"
	"github.com/runplane/runplane/internal/validate"
)

var (
	// ErrNotFound: no such workspace or edge in the organization.
	ErrNotFound = fault.New(fault.NotFound, "not_found", "not found")
	// ErrCycle: the edge would close a cycle; the message names it.
	ErrCycle = fault.New(fault.Conflict, "cycle", "the trigger would close a cycle")
	// ErrExists: the edge is already there.
	ErrExists = fault.New(fault.Conflict, "already_exists", "the trigger already exists")
)

// On says when an edge fires.
type On string

const (
	OnApply          On = "apply"
	OnOutputsChanged On = "outputs_changed"
)

// Edge is a trigger as callers see it.
type Edge struct {
	DownstreamID uuid.UUID
	UpstreamID   uuid.UUID
	On           On
	CreatedAt    time.Time
	// Warning says what will not work yet, such as the downstream not being
	// allowed to read the upstream's state.
	Warning string
}

// DB is what the service needs of the database; *pgxpool.Pool satisfies it.
type DB interface {
	dbtx.Beginner
	dbsqlc.DBTX
}

// Service manages triggers.
type Service struct{ db DB }

// NewService returns a Service.
func NewService(db DB) *Service { return &Service{db: db} }

// Create adds the edge upstream → downstream.
func (s *Service) Create(ctx context.Context, orgID, downstream, upstream uuid.UUID, on On) (Edge, error) {
	if on == "" {
		on = OnApply
	}
	if on != OnApply && on != OnOutputsChanged {
		return Edge{}, validate.Errorf(`on must be "apply" or "outputs_changed"`)
	}
	if downstream == upstream {
		return Edge{}, fmt.Errorf("%w: a workspace cannot trigger itself", ErrCycle)
	}
	var out Edge
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		// Serializes this organization's edge changes: the cycle check
		// below and the insert are one step for everyone else.
		if _, err := q.OrganizationGetForUpdate(ctx, orgID); err != nil {
			return err
		}
		names := map[uuid.UUID]string{}
		for _, id := range []uuid.UUID{downstream, upstream} {
			w, err := q.WorkspaceGet(ctx, dbsqlc.WorkspaceGetParams{ID: id, OrganizationID: orgID})
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("%w: no workspace %s in this organization", ErrNotFound, id)
			}
			if err != nil {
				return err
			}
			names[id] = w.Name
		}
		path, err := q.TriggerPath(ctx, dbsqlc.TriggerPathParams{FromID: downstream, ToID: upstream, OrganizationID: orgID})
		if err == nil {
			return fmt.Errorf("%w: %s", ErrCycle, cycleNames(ctx, q, orgID, append(path, downstream), names))
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		row, err := q.TriggerCreate(ctx, dbsqlc.TriggerCreateParams{OrganizationID: orgID, DownstreamID: downstream, UpstreamID: upstream, OnEvent: string(on)})
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s → %s", ErrExists, names[upstream], names[downstream])
		}
		if err != nil {
			return err
		}
		out = view(row)
		consumers, err := q.StateConsumerList(ctx, dbsqlc.StateConsumerListParams{WorkspaceID: upstream, OrganizationID: orgID})
		if err != nil {
			return err
		}
		if !slices.Contains(consumers, downstream) {
			out.Warning = fmt.Sprintf("%s cannot read %s's state: add %s to %s's remote_state_consumers for terraform_remote_state to work",
				names[downstream], names[upstream], downstream, names[upstream])
		}
		return nil
	})
	return out, err
}

// cycleNames renders a path of workspace ids as "a → b → a".
func cycleNames(ctx context.Context, q *dbsqlc.Queries, orgID uuid.UUID, path []uuid.UUID, names map[uuid.UUID]string) string {
	parts := make([]string, 0, len(path))
	for _, id := range path {
		name, ok := names[id]
		if !ok {
			if w, err := q.WorkspaceGet(ctx, dbsqlc.WorkspaceGetParams{ID: id, OrganizationID: orgID}); err == nil {
				name = w.Name
			} else {
				name = id.String()
			}
		}
		parts = append(parts, name)
	}
	return strings.Join(parts, " → ")
}

// ListDownstream returns the edges out of a workspace: the workspaces its
// applies trigger.
func (s *Service) ListDownstream(ctx context.Context, orgID, upstream uuid.UUID) ([]Edge, error) {
	return views(dbsqlc.New(s.db).TriggerListByUpstream(ctx, dbsqlc.TriggerListByUpstreamParams{UpstreamID: upstream, OrganizationID: orgID}))
}

// List returns a workspace's upstream edges.
func (s *Service) List(ctx context.Context, orgID, downstream uuid.UUID) ([]Edge, error) {
	return views(dbsqlc.New(s.db).TriggerListByDownstream(ctx, dbsqlc.TriggerListByDownstreamParams{DownstreamID: downstream, OrganizationID: orgID}))
}

// Delete removes the edge upstream → downstream.
func (s *Service) Delete(ctx context.Context, orgID, downstream, upstream uuid.UUID) error {
	return dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		if _, err := q.OrganizationGetForUpdate(ctx, orgID); err != nil {
			return err
		}
		n, err := q.TriggerDelete(ctx, dbsqlc.TriggerDeleteParams{DownstreamID: downstream, UpstreamID: upstream, OrganizationID: orgID})
		if err == nil && n == 0 {
			return ErrNotFound
		}
		return err
	})
}

func views(rows []dbsqlc.WorkspaceTrigger, err error) ([]Edge, error) {
	out := make([]Edge, 0, len(rows))
	for _, r := range rows {
		out = append(out, view(r))
	}
	return out, err
}

func view(r dbsqlc.WorkspaceTrigger) Edge {
	return Edge{DownstreamID: r.DownstreamID, UpstreamID: r.UpstreamID, On: On(r.OnEvent), CreatedAt: r.CreatedAt.UTC()}
}
