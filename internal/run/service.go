package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
)

var (
	// ErrNotFound: no such run in the caller's organization.
	ErrNotFound = errors.New("run not found")
	// ErrWorkspaceNotFound: no such workspace in the caller's organization.
	ErrWorkspaceNotFound = errors.New("workspace not found")
)

// Config holds the lifecycle's tunables.
type Config struct {
	// MaxPlanAttempts bounds how often a plan whose agent vanished is retried.
	MaxPlanAttempts int
	// ForceCancelCoolOff is how long after cancel force-cancel becomes allowed.
	ForceCancelCoolOff time.Duration
}

// DefaultConfig is what the server runs with unless told otherwise.
var DefaultConfig = Config{MaxPlanAttempts: 3, ForceCancelCoolOff: 10 * time.Second}

// DB is what the service needs of the database: transactions for writes,
// plain queries for reads. *pgxpool.Pool satisfies it.
type DB interface {
	dbtx.Beginner
	dbsqlc.DBTX
}

// Service applies lifecycle events to runs stored in the database.
type Service struct {
	db  DB
	cfg Config
	now func() time.Time
}

// NewService returns a Service on db.
func NewService(db DB, cfg Config) *Service {
	return &Service{db: db, cfg: cfg, now: time.Now}
}

// WaitReason names why a run is not progressing (invariant 7).
type WaitReason string

const (
	WaitNone            WaitReason = ""
	WaitWorkspaceBusy   WaitReason = "workspace_busy"
	WaitWorkspaceLocked WaitReason = "workspace_locked"
	// WaitAdmission: the workspace is free; admission is due (a tick does it if no event did).
	WaitAdmission      WaitReason = "admission"
	WaitAgent          WaitReason = "agent"
	WaitApproval       WaitReason = "approval"
	WaitPolicyOverride WaitReason = "policy_override"
)

// Run is a run as callers see it.
type Run struct {
	ID                uuid.UUID
	OrganizationID    uuid.UUID
	WorkspaceID       uuid.UUID
	Number            int64
	Status            Status
	WaitReason        WaitReason
	PlanOnly          bool
	IsDestroy         bool
	AutoApply         bool
	Message           string
	CancelRequestedAt *time.Time
	StatusTimestamps  map[Status]time.Time
	CreatedAt         time.Time
}

// CreateOptions are what a user chooses when starting a run.
type CreateOptions struct {
	PlanOnly  bool
	IsDestroy bool
	Message   string
}

// Create queues a run on a workspace and, when the workspace is free and
// unlocked (or the run is plan-only), admits it in the same transaction.
func (s *Service) Create(ctx context.Context, orgID, workspaceID uuid.UUID, opts CreateOptions) (Run, error) {
	var id uuid.UUID
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		now := s.now().UTC()
		ws, err := q.WorkspaceTakeRunNumber(ctx, dbsqlc.WorkspaceTakeRunNumberParams{ID: workspaceID, OrganizationID: orgID})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrWorkspaceNotFound
		}
		if err != nil {
			return err
		}
		r, err := q.RunCreate(ctx, dbsqlc.RunCreateParams{
			OrganizationID:   orgID,
			WorkspaceID:      workspaceID,
			Number:           ws.Number,
			Status:           string(StatusPending),
			PlanOnly:         opts.PlanOnly,
			IsDestroy:        opts.IsDestroy,
			AutoApply:        ws.AutoApply && !opts.PlanOnly,
			Message:          opts.Message,
			StatusTimestamps: stamp(StatusPending, now),
		})
		if err != nil {
			return err
		}
		switch {
		case opts.PlanOnly:
			if _, err := s.fire(ctx, q, r, EventAdmit, Input{}, now); err != nil {
				return err
			}
		case ws.ActiveRunID == nil && !ws.Locked:
			if _, err := AdmitNext(ctx, q, orgID, workspaceID, now); err != nil {
				return err
			}
		}
		id = r.ID
		return nil
	})
	if err != nil {
		return Run{}, err
	}
	return get(ctx, dbsqlc.New(s.db), orgID, id)
}

// Get returns one run of the organization.
func (s *Service) Get(ctx context.Context, orgID, runID uuid.UUID) (Run, error) {
	return get(ctx, dbsqlc.New(s.db), orgID, runID)
}

// List returns a workspace's runs, newest first, numbered below beforeNumber.
func (s *Service) List(ctx context.Context, orgID, workspaceID uuid.UUID, beforeNumber int64, limit int) ([]Run, error) {
	q := dbsqlc.New(s.db)
	if _, err := q.WorkspaceGet(ctx, dbsqlc.WorkspaceGetParams{ID: workspaceID, OrganizationID: orgID}); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrWorkspaceNotFound
		}
		return nil, err
	}
	rows, err := q.RunListByWorkspace(ctx, dbsqlc.RunListByWorkspaceParams{
		WorkspaceID: workspaceID, OrganizationID: orgID, BeforeNumber: beforeNumber, MaxRows: int32(limit),
	})
	if err != nil {
		return nil, err
	}
	out := make([]Run, 0, len(rows))
	for _, row := range rows {
		out = append(out, view(row.Run, row.WorkspaceLocked, row.WorkspaceActiveRunID))
	}
	return out, nil
}

// Input carries what an event's reporter knows (an agent's plan summary).
type Input struct {
	HasChanges    bool
	PoliciesExist bool
}

// Fire applies event e to a run: the transition, the workspace hand-over and
// any follow-up (confirm → apply_queued, auto-apply) in one transaction.
// A disallowed event returns an error wrapping ErrTransition and changes nothing.
func (s *Service) Fire(ctx context.Context, orgID, runID uuid.UUID, e Event, in Input) (Run, error) {
	// A run never changes workspace, so finding it needs no transaction, and
	// every read left out of the transaction is one conflict fewer.
	cur, err := get(ctx, dbsqlc.New(s.db), orgID, runID)
	if err != nil {
		return Run{}, err
	}
	err = dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		// Lock order is workspace, then run, everywhere: Create and AdmitNext
		// take the workspace first too, so they queue instead of deadlocking.
		if _, err := q.WorkspaceGetForUpdate(ctx, dbsqlc.WorkspaceGetForUpdateParams{ID: cur.WorkspaceID, OrganizationID: orgID}); err != nil {
			return err
		}
		r, err := q.RunGetForUpdate(ctx, dbsqlc.RunGetForUpdateParams{ID: runID, OrganizationID: orgID})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = s.fire(ctx, q, r, e, in, s.now().UTC())
		return err
	})
	if err != nil {
		return Run{}, err
	}
	return get(ctx, dbsqlc.New(s.db), orgID, runID)
}

// fire applies one event and its follow-ups inside the caller's transaction.
func (s *Service) fire(ctx context.Context, q *dbsqlc.Queries, r dbsqlc.Run, e Event, in Input, now time.Time) (dbsqlc.Run, error) {
	for {
		t, err := Next(Status(r.Status), e, Facts{
			PlanOnly:           r.PlanOnly,
			HasChanges:         in.HasChanges,
			PoliciesExist:      in.PoliciesExist,
			PlanAttempts:       int(r.PlanAttempts),
			MaxPlanAttempts:    s.cfg.MaxPlanAttempts,
			CancelRequestedAt:  r.CancelRequestedAt,
			ForceCancelCoolOff: s.cfg.ForceCancelCoolOff,
			Now:                now,
		})
		if err != nil {
			return r, err
		}
		if r, err = apply(ctx, q, r, t, now); err != nil {
			return r, err
		}
		switch {
		case t.To == StatusConfirmed:
			e = EventApplyQueue
		case (t.To == StatusPlanned || t.To == StatusPolicyChecked) && r.AutoApply:
			e = EventConfirm
		default:
			return r, nil
		}
	}
}

// apply writes transition t of run r and its workspace side effects.
func apply(ctx context.Context, q *dbsqlc.Queries, r dbsqlc.Run, t Transition, now time.Time) (dbsqlc.Run, error) {
	attempts := r.PlanAttempts
	if t.Event == EventPlanClaimed {
		attempts++
	}
	cancelAt := r.CancelRequestedAt
	if t.CancelRequested {
		cancelAt = &now
	}
	updated, err := q.RunUpdateStatus(ctx, dbsqlc.RunUpdateStatusParams{
		ToStatus:          string(t.To),
		StatusTimestamp:   stamp(t.To, now),
		CancelRequestedAt: cancelAt,
		PlanAttempts:      attempts,
		ID:                r.ID,
		OrganizationID:    r.OrganizationID,
		FromStatus:        string(t.From),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("%w: run %s is no longer %s", ErrTransition, r.ID, t.From)
	}
	if err != nil {
		return r, err
	}
	wasHolding, holds := t.From.Holds(r.PlanOnly), t.To.Holds(r.PlanOnly)
	switch {
	case !wasHolding && holds:
		n, err := q.WorkspaceSetActiveRun(ctx, dbsqlc.WorkspaceSetActiveRunParams{
			RunID: &r.ID, ID: r.WorkspaceID, OrganizationID: r.OrganizationID,
		})
		if err != nil {
			return r, err
		}
		if n != 1 {
			return r, fmt.Errorf("%w: workspace %s is not free for run %s", ErrTransition, r.WorkspaceID, r.ID)
		}
	case wasHolding && !holds:
		n, err := q.WorkspaceReleaseRun(ctx, dbsqlc.WorkspaceReleaseRunParams{
			RunID: &r.ID, ID: r.WorkspaceID, OrganizationID: r.OrganizationID,
		})
		if err != nil {
			return r, err
		}
		if n != 1 {
			return r, fmt.Errorf("run %s left %s but did not hold workspace %s", r.ID, t.From, r.WorkspaceID)
		}
		if t.LockReason != "" {
			if _, err := q.WorkspaceLock(ctx, dbsqlc.WorkspaceLockParams{
				Reason: t.LockReason, ID: r.WorkspaceID, OrganizationID: r.OrganizationID,
			}); err != nil {
				return r, err
			}
		}
		if _, err := AdmitNext(ctx, q, r.OrganizationID, r.WorkspaceID, now); err != nil {
			return r, err
		}
	}
	return updated, nil
}

// AdmitNext admits the oldest pending run of a workspace if the workspace is
// free and unlocked, and reports whether it admitted one. It runs in the
// caller's transaction, so whatever freed the workspace and the admission
// commit together.
func AdmitNext(ctx context.Context, q *dbsqlc.Queries, orgID, workspaceID uuid.UUID, now time.Time) (bool, error) {
	ws, err := q.WorkspaceGetForUpdate(ctx, dbsqlc.WorkspaceGetForUpdateParams{ID: workspaceID, OrganizationID: orgID})
	if err != nil {
		return false, fmt.Errorf("admit: %w", err)
	}
	if ws.ActiveRunID != nil || ws.Locked {
		return false, nil
	}
	admitted := false
	for {
		next, err := q.RunNextPending(ctx, dbsqlc.RunNextPendingParams{WorkspaceID: workspaceID, OrganizationID: orgID})
		if errors.Is(err, pgx.ErrNoRows) {
			return admitted, nil
		}
		if err != nil {
			return admitted, err
		}
		t, err := Next(Status(next.Status), EventAdmit, Facts{PlanOnly: next.PlanOnly})
		if err != nil {
			return admitted, err
		}
		if _, err := apply(ctx, q, next, t, now); err != nil {
			return admitted, err
		}
		admitted = true
		if !next.PlanOnly {
			return true, nil
		}
	}
}

func get(ctx context.Context, q *dbsqlc.Queries, orgID, runID uuid.UUID) (Run, error) {
	row, err := q.RunGetWithWorkspace(ctx, dbsqlc.RunGetWithWorkspaceParams{ID: runID, OrganizationID: orgID})
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, ErrNotFound
	}
	if err != nil {
		return Run{}, err
	}
	return view(row.Run, row.WorkspaceLocked, row.WorkspaceActiveRunID), nil
}

func view(r dbsqlc.Run, wsLocked bool, wsActive *uuid.UUID) Run {
	stamps := map[Status]time.Time{}
	_ = json.Unmarshal(r.StatusTimestamps, &stamps)
	status := Status(r.Status)
	return Run{
		ID:                r.ID,
		OrganizationID:    r.OrganizationID,
		WorkspaceID:       r.WorkspaceID,
		Number:            r.Number,
		Status:            status,
		WaitReason:        waitReason(status, wsLocked, wsActive != nil && *wsActive != r.ID),
		PlanOnly:          r.PlanOnly,
		IsDestroy:         r.IsDestroy,
		AutoApply:         r.AutoApply,
		Message:           r.Message,
		CancelRequestedAt: r.CancelRequestedAt,
		StatusTimestamps:  stamps,
		CreatedAt:         r.CreatedAt.UTC(),
	}
}

func waitReason(s Status, wsLocked, wsHeldByOther bool) WaitReason {
	switch s {
	case StatusPending:
		switch {
		case wsHeldByOther:
			return WaitWorkspaceBusy
		case wsLocked:
			return WaitWorkspaceLocked
		default:
			return WaitAdmission
		}
	case StatusPlanQueued, StatusApplyQueued:
		return WaitAgent
	case StatusPlanned, StatusPolicyChecked:
		return WaitApproval
	case StatusPolicyOverride:
		return WaitPolicyOverride
	}
	return WaitNone
}

func stamp(s Status, at time.Time) []byte {
	b, _ := json.Marshal(map[Status]time.Time{s: at.UTC()})
	return b
}
