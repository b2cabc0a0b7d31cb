package workspace

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/fault"
)

var (
	// ErrBusy: the workspace has runs that have not finished.
	ErrBusy = fault.New(fault.Conflict, "workspace_busy", "the workspace has runs that have not finished; cancel or discard them before deleting it")
	// ErrDeleteLocked: a locked workspace is not deleted.
	ErrDeleteLocked = fault.New(fault.Conflict, "workspace_locked", "the workspace is locked; unlock it before deleting it")
	// ErrStateLocked: someone holds the workspace's state lock.
	ErrStateLocked = fault.New(fault.Conflict, "state_locked", "the workspace's state is locked (a terraform command may be writing it); unlock it before deleting the workspace")
)

// DefaultRetention is how long a deleted workspace can be restored before
// the tick purges it, unless the service is told otherwise (Retention).
const DefaultRetention = 30 * 24 * time.Hour

// Deleted is a deleted workspace, restorable until PurgeAfter.
type Deleted struct {
	Workspace
	DeletedAt  time.Time
	PurgeAfter time.Time
}

// Delete deletes a workspace that has no unfinished run and no lock on it
// or its state. Everything it holds (state versions, runs, variables,
// configurations) stays until it is purged after s.Retention, and Restore
// brings it back meanwhile; its name is free at once. Its run triggers
// are removed.
func (s *Service) Delete(ctx context.Context, orgID, id uuid.UUID) (Deleted, error) {
	var out Deleted
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		w, err := q.WorkspaceGetForUpdate(ctx, dbsqlc.WorkspaceGetForUpdateParams{ID: id, OrganizationID: orgID})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		unfinished, err := q.WorkspaceUnfinishedRunCount(ctx, dbsqlc.WorkspaceUnfinishedRunCountParams{ID: id, OrganizationID: orgID})
		if err != nil {
			return err
		}
		if unfinished > 0 || w.ActiveRunID != nil {
			return fmt.Errorf("%w (%d)", ErrBusy, unfinished)
		}
		if w.Locked {
			return fmt.Errorf("%w (reason: %s)", ErrDeleteLocked, w.LockReason)
		}
		_, err = q.StateLockGet(ctx, dbsqlc.StateLockGetParams{WorkspaceID: id, OrganizationID: orgID})
		if err == nil {
			return ErrStateLocked
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := q.WorkspacePurgeTriggers(ctx, id); err != nil {
			return err
		}
		d, err := q.WorkspaceDelete(ctx, dbsqlc.WorkspaceDeleteParams{ID: id, OrganizationID: orgID})
		if err != nil {
			return err
		}
		out = s.deletedView(d)
		return record(ctx, q, orgID, "workspace.deleted", id, map[string]any{"name": out.Name})
	})
	return out, err
}

// Restore brings back a deleted workspace not yet purged, under its name,
// unless a workspace has taken that name since.
func (s *Service) Restore(ctx context.Context, orgID, id uuid.UUID) (Workspace, error) {
	var out Workspace
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		d, err := q.WorkspaceGetDeleted(ctx, dbsqlc.WorkspaceGetDeletedParams{ID: id, OrganizationID: orgID})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		name := originalName(d)
		if _, err := q.WorkspaceGetByName(ctx, dbsqlc.WorkspaceGetByNameParams{OrganizationID: orgID, Name: name}); err == nil {
			return fmt.Errorf("%w: a workspace named %q was created after this one was deleted; rename it first", ErrExists, name)
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		w, err := q.WorkspaceRestore(ctx, dbsqlc.WorkspaceRestoreParams{ID: id, OrganizationID: orgID, Name: name})
		if err != nil {
			return err
		}
		out = view(w)
		return record(ctx, q, orgID, "workspace.restored", id, map[string]any{"name": name})
	})
	if err != nil {
		return out, err
	}
	return s.withConsumers(ctx, out)
}

// ListDeleted returns the organization's deleted workspaces, most recently
// deleted first.
func (s *Service) ListDeleted(ctx context.Context, orgID uuid.UUID, limit int) ([]Deleted, error) {
	rows, err := dbsqlc.New(s.db).WorkspaceListDeleted(ctx, dbsqlc.WorkspaceListDeletedParams{OrganizationID: orgID, MaxRows: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]Deleted, 0, len(rows))
	for _, w := range rows {
		out = append(out, s.deletedView(w))
	}
	return out, nil
}

// Purge removes, for good, up to max workspaces deleted more than
// s.Retention ago, each in a transaction of its own, and says how many it
// removed.
func (s *Service) Purge(ctx context.Context, max int) (int, error) {
	before := s.now().Add(-s.Retention)
	due, err := dbsqlc.New(s.db).WorkspaceListPurgeable(ctx, dbsqlc.WorkspaceListPurgeableParams{DeletedBefore: before, MaxRows: int32(max)})
	if err != nil {
		return 0, err
	}
	purged := 0
	for _, w := range due {
		err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
			if err := purge(ctx, q, w.ID); err != nil {
				return err
			}
			return record(ctx, q, w.OrganizationID, "workspace.purged", w.ID, nil)
		})
		if err != nil {
			return purged, fmt.Errorf("purge workspace %s: %w", w.ID, err)
		}
		purged++
	}
	return purged, nil
}

// purge deletes what the workspace owned, in foreign-key order.
func purge(ctx context.Context, q *dbsqlc.Queries, id uuid.UUID) error {
	for _, step := range []func(context.Context, uuid.UUID) error{
		q.WorkspacePurgeRunCauses, q.WorkspacePurgeEvents, q.WorkspacePurgePolicyResults,
		q.WorkspacePurgeRunArtifacts, q.WorkspacePurgeJobLogChunks, q.WorkspacePurgeJobLogs,
		q.WorkspacePurgeTokens, q.WorkspacePurgeTeamAccess, q.WorkspacePurgeJobs, q.WorkspacePurgeRuns,
		q.WorkspacePurgeCurrentState, q.WorkspacePurgeStateVersions, q.WorkspacePurgeStateLock,
		q.WorkspacePurgeConsumers, q.WorkspacePurgeTriggers, q.WorkspacePurgeVariableSetLinks,
		q.WorkspacePurgeVariables, q.WorkspacePurgeConfigurationUploads,
		q.WorkspacePurgeConfigurationVersions, q.WorkspacePurgeRow,
	} {
		if err := step(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// originalName is a deleted workspace's name before deletion renamed it
// to name~id.
func originalName(w dbsqlc.Workspace) string {
	name, _, _ := strings.Cut(w.Name, "~")
	return name
}

func (s *Service) deletedView(w dbsqlc.Workspace) Deleted {
	d := Deleted{Workspace: view(w)}
	d.Name = originalName(w)
	if w.DeletedAt != nil {
		d.DeletedAt = w.DeletedAt.UTC()
		d.PurgeAfter = d.DeletedAt.Add(s.Retention)
	}
	return d
}
