package workspace

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/audit"
	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/fault"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/validate"
)

var (
	ErrNotFound      = fault.New(fault.NotFound, "not_found", "workspace not found")
	ErrExists        = fault.New(fault.Conflict, "already_exists", "workspace already exists")
	ErrLocked        = fault.New(fault.Conflict, "workspace_locked", "workspace is already locked")
	ErrNotLocked     = fault.New(fault.Conflict, "workspace_not_locked", "workspace is not locked")
	ErrLockedByOther = fault.New(fault.Conflict, "locked_by_other", "workspace is locked by someone else; use force-unlock")
)

// Workspace is a workspace as callers see it.
type Workspace struct {
	ID                  uuid.UUID
	OrganizationID      uuid.UUID
	Name                string
	AutoApply           bool
	AutoApplyRunTrigger bool
	Locked              bool
	LockReason          string
	// LockedBy is the token that took a manual lock; LockedForRunID the
	// run an interrupted apply locked it for. Both nil for other locks.
	LockedBy, LockedForRunID *uuid.UUID
	CurrentRunID             *uuid.UUID
	// CurrentStateVersionID is the workspace's current state, nil before the first write.
	CurrentStateVersionID *uuid.UUID
	// AgentPoolID is the organization's agent pool that runs this
	// workspace's runs; nil: the platform's agents.
	AgentPoolID *uuid.UUID
	// RemoteStateConsumers are the workspaces whose runs may read this one's
	// state; every method that returns workspaces fills it.
	RemoteStateConsumers []uuid.UUID
	CreatedAt            time.Time
}

// ID is a workspace's id, for functions that take any list's key.
func ID(w Workspace) uuid.UUID { return w.ID }

// DB is what the service needs of the database; *pgxpool.Pool satisfies it.
type DB interface {
	dbtx.Beginner
	dbsqlc.DBTX
}

// Service manages workspaces.
type Service struct {
	db  DB
	now func() time.Time
	// Retention is how long a deleted workspace stays restorable.
	Retention time.Duration
}

// NewService returns a Service on db.
func NewService(db DB) *Service { return &Service{db: db, now: time.Now, Retention: DefaultRetention} }

// CreateOptions are a new workspace's settings.
type CreateOptions struct {
	Name                 string
	AutoApply            bool
	AutoApplyRunTrigger  bool
	RemoteStateConsumers []uuid.UUID
}

// maxConsumers bounds a workspace's remote-state allow-list.
const maxConsumers = 1000

// Create makes a workspace in an organization.
func (s *Service) Create(ctx context.Context, orgID uuid.UUID, opts CreateOptions) (Workspace, error) {
	if err := validate.Name(opts.Name); err != nil {
		return Workspace{}, err
	}
	if len(opts.RemoteStateConsumers) > maxConsumers {
		return Workspace{}, validate.Errorf("remote_state_consumers lists more than %d workspaces", maxConsumers)
	}
	var out Workspace
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		w, err := q.WorkspaceCreate(ctx, dbsqlc.WorkspaceCreateParams{
			OrganizationID: orgID, Name: opts.Name, AutoApply: opts.AutoApply, AutoApplyRunTrigger: opts.AutoApplyRunTrigger,
		})
		if dbtx.IsUniqueViolation(err) {
			return fmt.Errorf("%w: %s", ErrExists, opts.Name)
		}
		if err != nil {
			return err
		}
		out = view(w)
		if out.RemoteStateConsumers, err = setConsumers(ctx, q, orgID, w.ID, opts.RemoteStateConsumers); err != nil {
			return err
		}
		return record(ctx, q, orgID, "workspace.created", w.ID, map[string]any{"name": w.Name})
	})
	return out, err
}

// record adds a change of workspace id to the audit trail.
func record(ctx context.Context, q *dbsqlc.Queries, orgID uuid.UUID, action string, id uuid.UUID, detail map[string]any) error {
	return audit.Record(ctx, q, orgID, audit.Change{Action: action, ObjectKind: "workspace", ObjectID: &id, Detail: detail})
}

// UpdateOptions change a workspace's settings; nil fields stay as they are.
type UpdateOptions struct {
	AutoApply            *bool
	AutoApplyRunTrigger  *bool
	RemoteStateConsumers *[]uuid.UUID
	// SetAgentPool assigns AgentPoolID, a pool of the organization, or nil
	// for the platform's agents. Runs created afterwards go to it.
	SetAgentPool bool
	AgentPoolID  *uuid.UUID
}

// audited is what an update changed, for the audit trail.
func (o UpdateOptions) audited() map[string]any {
	d := map[string]any{}
	if o.AutoApply != nil {
		d["auto_apply"] = *o.AutoApply
	}
	if o.AutoApplyRunTrigger != nil {
		d["auto_apply_run_trigger"] = *o.AutoApplyRunTrigger
	}
	if o.RemoteStateConsumers != nil {
		d["remote_state_consumers"] = *o.RemoteStateConsumers
	}
	if o.SetAgentPool {
		d["agent_pool_id"] = o.AgentPoolID
	}
	return d
}

// Update changes a workspace's settings. RemoteStateConsumers, when given,
// replaces the whole allow-list.
func (s *Service) Update(ctx context.Context, orgID, id uuid.UUID, opts UpdateOptions) (Workspace, error) {
	if opts.RemoteStateConsumers != nil && len(*opts.RemoteStateConsumers) > maxConsumers {
		return Workspace{}, validate.Errorf("remote_state_consumers lists more than %d workspaces", maxConsumers)
	}
	var out Workspace
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		var err error
		out, err = found(q.WorkspaceUpdateSettings(ctx, dbsqlc.WorkspaceUpdateSettingsParams{
			AutoApply: opts.AutoApply, AutoApplyRunTrigger: opts.AutoApplyRunTrigger, ID: id, OrganizationID: orgID,
		}))
		if err != nil {
			return err
		}
		if opts.SetAgentPool {
			if out.AgentPoolID, err = setAgentPool(ctx, q, orgID, id, opts.AgentPoolID); err != nil {
				return err
			}
		}
		if err := record(ctx, q, orgID, "workspace.updated", id, opts.audited()); err != nil {
			return err
		}
		if opts.RemoteStateConsumers == nil {
			out.RemoteStateConsumers, err = q.StateConsumerList(ctx, dbsqlc.StateConsumerListParams{WorkspaceID: id, OrganizationID: orgID})
			return err
		}
		if err := q.StateConsumerDeleteAll(ctx, dbsqlc.StateConsumerDeleteAllParams{WorkspaceID: id, OrganizationID: orgID}); err != nil {
			return err
		}
		out.RemoteStateConsumers, err = setConsumers(ctx, q, orgID, id, *opts.RemoteStateConsumers)
		return err
	})
	return out, err
}

// ErrNoSuchPool: the agent pool named is not one of the organization's.
var ErrNoSuchPool = fault.New(fault.Invalid, "invalid_request", "agent_pool_id names no agent pool of this organization")

func setAgentPool(ctx context.Context, q *dbsqlc.Queries, orgID, id uuid.UUID, pool *uuid.UUID) (*uuid.UUID, error) {
	if pool != nil {
		ok, err := q.AgentPoolExists(ctx, dbsqlc.AgentPoolExistsParams{ID: *pool, OrganizationID: orgID})
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ErrNoSuchPool
		}
	}
	w, err := q.WorkspaceSetAgentPool(ctx, dbsqlc.WorkspaceSetAgentPoolParams{AgentPoolID: pool, ID: id, OrganizationID: orgID})
	return w.AgentPoolID, err
}

// setConsumers adds the allow-list; every consumer must be another
// workspace of the same organization.
func setConsumers(ctx context.Context, q *dbsqlc.Queries, orgID, id uuid.UUID, consumers []uuid.UUID) ([]uuid.UUID, error) {
	for _, c := range consumers {
		if c == id {
			return nil, validate.Errorf("remote_state_consumers: a workspace always reads its own state; list other workspaces")
		}
		n, err := q.StateConsumerAdd(ctx, dbsqlc.StateConsumerAddParams{OrganizationID: orgID, WorkspaceID: id, ConsumerID: c})
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, validate.Errorf("remote_state_consumers: no workspace %s in this organization", c)
		}
	}
	return q.StateConsumerList(ctx, dbsqlc.StateConsumerListParams{WorkspaceID: id, OrganizationID: orgID})
}

// Get returns a workspace of the organization by id.
func (s *Service) Get(ctx context.Context, orgID, id uuid.UUID) (Workspace, error) {
	w, err := found(dbsqlc.New(s.db).WorkspaceGet(ctx, dbsqlc.WorkspaceGetParams{ID: id, OrganizationID: orgID}))
	if err != nil {
		return w, err
	}
	return s.withConsumers(ctx, w)
}

// GetByName returns a workspace of the organization by name.
func (s *Service) GetByName(ctx context.Context, orgID uuid.UUID, name string) (Workspace, error) {
	w, err := found(dbsqlc.New(s.db).WorkspaceGetByName(ctx, dbsqlc.WorkspaceGetByNameParams{OrganizationID: orgID, Name: name}))
	if err != nil {
		return w, err
	}
	return s.withConsumers(ctx, w)
}

func (s *Service) withConsumers(ctx context.Context, w Workspace) (Workspace, error) {
	var err error
	w.RemoteStateConsumers, err = dbsqlc.New(s.db).StateConsumerList(ctx, dbsqlc.StateConsumerListParams{WorkspaceID: w.ID, OrganizationID: w.OrganizationID})
	return w, err
}

// List returns the organization's workspaces ordered by name, after afterName.
func (s *Service) List(ctx context.Context, orgID uuid.UUID, afterName string, limit int) ([]Workspace, error) {
	rows, err := dbsqlc.New(s.db).WorkspaceList(ctx, dbsqlc.WorkspaceListParams{OrganizationID: orgID, AfterName: afterName, MaxRows: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]Workspace, 0, len(rows))
	ids := make([]uuid.UUID, 0, len(rows))
	for _, w := range rows {
		out = append(out, view(w))
		ids = append(ids, w.ID)
	}
	consumers, err := dbsqlc.New(s.db).StateConsumerListMany(ctx, dbsqlc.StateConsumerListManyParams{OrganizationID: orgID, WorkspaceIds: ids})
	if err != nil {
		return nil, err
	}
	byWorkspace := map[uuid.UUID][]uuid.UUID{}
	for _, c := range consumers {
		byWorkspace[c.WorkspaceID] = append(byWorkspace[c.WorkspaceID], c.ConsumerID)
	}
	for i := range out {
		out[i].RemoteStateConsumers = byWorkspace[out[i].ID]
	}
	return out, nil
}

// Lock blocks admission of new runs; the active run, if any, carries on.
func (s *Service) Lock(ctx context.Context, orgID, id, tokenID uuid.UUID, reason string) (Workspace, error) {
	if len(reason) > 1000 {
		return Workspace{}, validate.Errorf("reason is longer than 1000 characters")
	}
	var out Workspace
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		w, err := found(q.WorkspaceGetForUpdate(ctx, dbsqlc.WorkspaceGetForUpdateParams{ID: id, OrganizationID: orgID}))
		if err != nil {
			return err
		}
		if w.Locked {
			return fmt.Errorf("%w: %s", ErrLocked, w.LockReason)
		}
		if out, err = found(q.WorkspaceLock(ctx, dbsqlc.WorkspaceLockParams{Reason: reason, LockedBy: &tokenID, ID: id, OrganizationID: orgID})); err != nil {
			return err
		}
		return record(ctx, q, orgID, "workspace.locked", id, map[string]any{"reason": reason})
	})
	if err != nil {
		return out, err
	}
	return s.withConsumers(ctx, out)
}

// Unlock releases the lock and admits the next pending run. Without force,
// only the token that took the lock may release it.
func (s *Service) Unlock(ctx context.Context, orgID, id, tokenID uuid.UUID, force bool) (Workspace, error) {
	var out Workspace
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		w, err := q.WorkspaceGetForUpdate(ctx, dbsqlc.WorkspaceGetForUpdateParams{ID: id, OrganizationID: orgID})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if !w.Locked {
			return ErrNotLocked
		}
		if !force && (w.LockedBy == nil || *w.LockedBy != tokenID) {
			return fmt.Errorf("%w (reason: %s)", ErrLockedByOther, w.LockReason)
		}
		if _, err := q.WorkspaceUnlock(ctx, dbsqlc.WorkspaceUnlockParams{ID: id, OrganizationID: orgID}); err != nil {
			return err
		}
		if w.LockedForRunID != nil {
			// The person verified the interrupted apply: its terraform may no
			// longer write, and its state lock goes with the workspace lock.
			if err := q.StateLockDeleteByRun(ctx, dbsqlc.StateLockDeleteByRunParams{
				WorkspaceID: id, OrganizationID: orgID, RunID: w.LockedForRunID,
			}); err != nil {
				return err
			}
		}
		if _, err := run.AdmitNext(ctx, q, orgID, id, s.now().UTC()); err != nil {
			return err
		}
		action := "workspace.unlocked"
		if force {
			action = "workspace.force_unlocked"
		}
		if err := record(ctx, q, orgID, action, id, map[string]any{"reason": w.LockReason}); err != nil {
			return err
		}
		out, err = found(q.WorkspaceGet(ctx, dbsqlc.WorkspaceGetParams{ID: id, OrganizationID: orgID}))
		return err
	})
	if err != nil {
		return out, err
	}
	return s.withConsumers(ctx, out)
}

func found(w dbsqlc.Workspace, err error) (Workspace, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return Workspace{}, ErrNotFound
	}
	if err != nil {
		return Workspace{}, err
	}
	return view(w), nil
}

func view(w dbsqlc.Workspace) Workspace {
	return Workspace{
		ID: w.ID, OrganizationID: w.OrganizationID, Name: w.Name,
		AutoApply: w.AutoApply, AutoApplyRunTrigger: w.AutoApplyRunTrigger,
		Locked: w.Locked, LockReason: w.LockReason, LockedBy: w.LockedBy, LockedForRunID: w.LockedForRunID, CurrentRunID: w.ActiveRunID,
		CurrentStateVersionID: w.CurrentStateVersionID, AgentPoolID: w.AgentPoolID, CreatedAt: w.CreatedAt.UTC(),
	}
}
