package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/audit"
	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/fault"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/validate"
)

var (
	// ErrNotFound: no such run in the caller's organization.
	ErrNotFound = fault.New(fault.NotFound, "not_found", "run not found")
	// ErrWorkspaceNotFound: no such workspace in the caller's organization.
	ErrWorkspaceNotFound = fault.New(fault.NotFound, "not_found", "workspace not found")
	// ErrConfigurationVersionNotFound: no such configuration version in the workspace.
	ErrConfigurationVersionNotFound = fault.New(fault.NotFound, "not_found", "configuration version not found in this workspace")
	// ErrNoConfiguration: the workspace has no configuration to run.
	ErrNoConfiguration = fault.New(fault.Conflict, "no_configuration", "the workspace has no configuration yet: upload one first (POST /api/v1/workspaces/{id}/configuration-versions with a .tar.gz of the Terraform files, e.g. tar -czf config.tar.gz -C path/to/folder .)")
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
	// queued is told, after a commit, that work may be waiting for an agent.
	// It is only a hint that wakes long-polling claims in this process early.
	queued func()
}

// NewService returns a Service on db. queued is called after commits that may have queued a job (the claim
// hint that wakes waiting agents); nil: nothing to wake.
func NewService(db DB, cfg Config, queued func()) *Service {
	if queued == nil {
		queued = func() {}
	}
	return &Service{db: db, cfg: cfg, now: time.Now, queued: queued}
}

// Config returns the lifecycle's tunables.
func (s *Service) Config() Config { return s.cfg }

// WaitReason names why a run is not progressing (invariant 7, docs/architecture.md).
type WaitReason string

const (
	WaitNone            WaitReason = ""
	WaitWorkspaceBusy   WaitReason = "workspace_busy"
	WaitWorkspaceLocked WaitReason = "workspace_locked"
	// WaitStateLocked: someone outside the platform (terraform with the
	// http backend) holds the workspace's state lock; the run is admitted
	// when it is released.
	WaitStateLocked WaitReason = "state_locked"
	// WaitAdmission: the workspace is free; admission is due (a tick does it if no event did).
	WaitAdmission WaitReason = "admission"
	WaitAgent     WaitReason = "agent"
	// WaitAgentPool: the run waits for an agent of its organization's own
	// agent pool; the platform's agents never take it.
	WaitAgentPool WaitReason = "agent_pool"
	// WaitUpstream: a triggered run waits for its upstream workspaces' runs to end.
	WaitUpstream WaitReason = "upstream"
	// WaitCapacity: the organization is at its concurrency cap or out of bucket tokens.
	WaitCapacity WaitReason = "capacity"
	WaitApproval WaitReason = "approval"
	// WaitPolicyCheck: the platform is checking the plan against the organization's policies.
	WaitPolicyCheck    WaitReason = "policy_check"
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
	// ConfigurationVersionID is the Terraform configuration the run plans.
	ConfigurationVersionID *uuid.UUID
	// Plan is the agent's plan summary, nil until the plan finished.
	Plan *PlanSummary
	// Error says why an errored run failed.
	Error string
	// Triggered: an upstream apply enqueued the run.
	Triggered bool
	PlanOptions
}

// PlanSummary counts a plan's resource changes.
type PlanSummary struct {
	Add, Change, Destroy int
	HasChanges           bool
}

// CreateOptions are what a user chooses when starting a run.
type CreateOptions struct {
	PlanOnly  bool
	IsDestroy bool
	Message   string
	// ConfigurationVersionID picks the configuration; nil takes the
	// workspace's latest upload.
	ConfigurationVersionID *uuid.UUID
	// Triggered marks a run an upstream apply enqueued: it waits for its
	// upstreams and auto-applies by the workspace's auto_apply_run_trigger.
	Triggered bool
	// RequireConfiguration refuses the run (ErrNoConfiguration) when the
	// workspace has no configuration, rather than let it fail at its plan:
	// what a person creating a run wants to hear at once.
	RequireConfiguration bool
	// AutoApply, when set, replaces the workspace's auto-apply for this
	// run (terraform apply -auto-approve through the cloud backend).
	AutoApply *bool
	// Plan is how terraform plans: -refresh-only, -refresh=false,
	// -target and -replace.
	Plan PlanOptions
}

// PlanOptions are the terraform plan flags a run asks for.
type PlanOptions struct {
	RefreshOnly  bool
	SkipRefresh  bool
	TargetAddrs  []string
	ReplaceAddrs []string
}

// maxAddrs bounds a run's -target and -replace lists.
const maxAddrs = 100

func (p PlanOptions) validate(isDestroy bool) error {
	if p.RefreshOnly && isDestroy {
		return validate.Errorf("a run cannot be both refresh-only and destroy")
	}
	if p.RefreshOnly && p.SkipRefresh {
		return validate.Errorf("a refresh-only run must refresh")
	}
	for _, list := range [][]string{p.TargetAddrs, p.ReplaceAddrs} {
		if len(list) > maxAddrs {
			return validate.Errorf("at most %d -target or -replace addresses", maxAddrs)
		}
		for _, a := range list {
			if a == "" || len(a) > 1024 || strings.HasPrefix(a, "-") || strings.ContainsFunc(a, unicode.IsControl) {
				return validate.Errorf("%q is not a resource address", a)
			}
		}
	}
	return nil
}

// Create queues a run on a workspace and, when the workspace is free and
// unlocked (or the run is plan-only), admits it in the same transaction.
func (s *Service) Create(ctx context.Context, orgID, workspaceID uuid.UUID, opts CreateOptions) (Run, error) {
	var id uuid.UUID
	err := dbtx.Run(ctx, s.db, func(q *dbsqlc.Queries) error {
		r, err := s.create(ctx, q, orgID, workspaceID, opts)
		if err != nil {
			return err
		}
		id = r.ID
		if r.PlanOnly {
			_, err = s.fire(ctx, q, r, EventAdmit, Input{}, s.now().UTC())
			return err
		}
		_, err = AdmitNext(ctx, q, orgID, workspaceID, s.now().UTC())
		return err
	})
	if err != nil {
		return Run{}, err
	}
	s.queued()
	return get(ctx, dbsqlc.New(s.db), orgID, id)
}

// CreateTx inserts a pending run inside the caller's transaction without
// admitting it and returns its id; the caller admits (AdmitNext) once
// everything it creates together exists, so admission sees all of it.
func (s *Service) CreateTx(ctx context.Context, q *dbsqlc.Queries, orgID, workspaceID uuid.UUID, opts CreateOptions) (uuid.UUID, error) {
	r, err := s.create(ctx, q, orgID, workspaceID, opts)
	return r.ID, err
}

func (s *Service) create(ctx context.Context, q *dbsqlc.Queries, orgID, workspaceID uuid.UUID, opts CreateOptions) (dbsqlc.Run, error) {
	ws, err := q.WorkspaceTakeRunNumber(ctx, dbsqlc.WorkspaceTakeRunNumberParams{ID: workspaceID, OrganizationID: orgID})
	if errors.Is(err, pgx.ErrNoRows) {
		return dbsqlc.Run{}, ErrWorkspaceNotFound
	}
	if err != nil {
		return dbsqlc.Run{}, err
	}
	if err := opts.Plan.validate(opts.IsDestroy); err != nil {
		return dbsqlc.Run{}, err
	}
	cv, speculative, err := configurationVersion(ctx, q, orgID, workspaceID, opts.ConfigurationVersionID)
	if err != nil {
		return dbsqlc.Run{}, err
	}
	if cv == nil && opts.RequireConfiguration {
		return dbsqlc.Run{}, ErrNoConfiguration
	}
	autoApply := ws.AutoApply
	if opts.Triggered {
		autoApply = ws.AutoApplyRunTrigger
	}
	if opts.AutoApply != nil {
		autoApply = *opts.AutoApply
	}
	// A speculative configuration only ever plans.
	planOnly := opts.PlanOnly || speculative
	r, err := q.RunCreate(ctx, dbsqlc.RunCreateParams{
		ConfigurationVersionID: cv,
		OrganizationID:         orgID,
		WorkspaceID:            workspaceID,
		Number:                 ws.Number,
		Status:                 string(StatusPending),
		PlanOnly:               planOnly,
		IsDestroy:              opts.IsDestroy,
		AutoApply:              autoApply && !planOnly,
		Message:                opts.Message,
		StatusTimestamps:       stamp(StatusPending, s.now().UTC()),
		Triggered:              opts.Triggered,
		RefreshOnly:            opts.Plan.RefreshOnly,
		Refresh:                !opts.Plan.SkipRefresh,
		TargetAddrs:            opts.Plan.TargetAddrs,
		ReplaceAddrs:           opts.Plan.ReplaceAddrs,
		AgentPoolID:            ws.AgentPoolID,
	})
	if err != nil {
		return r, err
	}
	return r, audit.Record(ctx, q, orgID, audit.Change{Action: "run.created", ObjectKind: "run", ObjectID: &r.ID,
		Detail: map[string]any{"workspace_id": workspaceID, "plan_only": r.PlanOnly, "is_destroy": r.IsDestroy, "triggered": r.Triggered}})
}

// configurationVersion resolves a run's configuration: the one asked for,
// which must belong to the workspace, or the workspace's latest, or none;
// and whether it is speculative.
func configurationVersion(ctx context.Context, q *dbsqlc.Queries, orgID, workspaceID uuid.UUID, id *uuid.UUID) (*uuid.UUID, bool, error) {
	if id != nil {
		cv, err := q.ConfigurationVersionGet(ctx, dbsqlc.ConfigurationVersionGetParams{ID: *id, OrganizationID: orgID})
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && cv.WorkspaceID != workspaceID) {
			return nil, false, ErrConfigurationVersionNotFound
		}
		return id, cv.Speculative, err
	}
	cv, err := q.ConfigurationVersionLatest(ctx, dbsqlc.ConfigurationVersionLatestParams{WorkspaceID: workspaceID, OrganizationID: orgID})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return &cv.ID, false, nil
}

// awaitPoll is how often Await reads the run again.
const awaitPoll = 200 * time.Millisecond

// Await returns the run once its status is one of want or terminal, or as
// it is when wait runs out: a client follows a run without polling.
func (s *Service) Await(ctx context.Context, orgID, runID uuid.UUID, want []Status, wait time.Duration) (Run, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		r, err := s.Get(context.WithoutCancel(ctx), orgID, runID)
		if err != nil || r.Status.Terminal() || slices.Contains(want, r.Status) {
			return r, err
		}
		select {
		case <-ctx.Done():
			return r, nil
		case <-time.After(awaitPoll):
		}
	}
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
		r, err := withUpstreamWait(ctx, q, view(row.Run, wsFacts{locked: row.WorkspaceLocked, active: row.WorkspaceActiveRunID, stateLocked: row.StateLocked}, atCapacity(row.Organization, time.Now())))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Input carries what an event's reporter knows (an agent's plan summary).
type Input struct {
	HasChanges    bool
	PoliciesExist bool
	// Plan is a finished plan's summary, recorded with the transition.
	Plan *PlanSummary
	// Error is why the run failed, recorded if the transition leaves it
	// errored.
	Error string
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
		if err := s.FireTx(ctx, q, orgID, cur.WorkspaceID, runID, e, in); err != nil {
			return err
		}
		if action, ok := audited[e]; ok {
			return audit.Record(ctx, q, orgID, audit.Change{Action: action, ObjectKind: "run", ObjectID: &runID,
				Detail: map[string]any{"workspace_id": cur.WorkspaceID}})
		}
		return nil
	})
	if err != nil {
		return Run{}, err
	}
	s.queued()
	return get(ctx, dbsqlc.New(s.db), orgID, runID)
}

// audited are the events people fire, and their names in the audit trail.
var audited = map[Event]string{
	EventConfirm: "run.confirmed", EventDiscard: "run.discarded", EventCancel: "run.canceled",
	EventForceCancel: "run.force_canceled", EventOverride: "run.policy_overridden",
}

// FireTx is Fire inside the caller's transaction, for services whose own
// writes must commit with the transition (an agent's finish, a reaped lease).
func (s *Service) FireTx(ctx context.Context, q *dbsqlc.Queries, orgID, workspaceID, runID uuid.UUID, e Event, in Input) error {
	if e == EventAdmit {
		// Admitting one run by name could pass over an older pending one.
		return fmt.Errorf("%w: runs are admitted by their workspace's queue, oldest first", ErrTransition)
	}
	// Lock order is workspace, then run, everywhere: Create and AdmitNext
	// take the workspace first too, so they queue instead of deadlocking.
	if _, err := q.WorkspaceGetForUpdate(ctx, dbsqlc.WorkspaceGetForUpdateParams{ID: workspaceID, OrganizationID: orgID}); err != nil {
		return err
	}
	r, err := q.RunGetForUpdate(ctx, dbsqlc.RunGetForUpdateParams{ID: runID, OrganizationID: orgID})
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if p := in.Plan; p != nil {
		if err := q.RunSetPlanSummary(ctx, dbsqlc.RunSetPlanSummaryParams{
			PlanAdd: ptr(int32(p.Add)), PlanChange: ptr(int32(p.Change)), PlanDestroy: ptr(int32(p.Destroy)),
			HasChanges: &p.HasChanges, ID: r.ID, OrganizationID: r.OrganizationID,
		}); err != nil {
			return err
		}
	}
	updated, err := s.fire(ctx, q, r, e, in, s.now().UTC())
	if err != nil || in.Error == "" || Status(updated.Status) != StatusErrored {
		return err
	}
	return q.RunSetError(ctx, dbsqlc.RunSetErrorParams{ErrorMessage: validate.Clean(in.Error), ID: r.ID, OrganizationID: r.OrganizationID})
}

func ptr[T any](v T) *T { return &v }

// ClaimTx moves a queued run, already locked by the caller's claim query, to
// planning or applying. Both sides of that step hold the workspace (or, for
// a plan-only run, neither does), so no workspace lock is needed.
func (s *Service) ClaimTx(ctx context.Context, q *dbsqlc.Queries, r dbsqlc.Run) (dbsqlc.Run, error) {
	e := EventPlanClaimed
	if Status(r.Status) == StatusApplyQueued {
		e = EventApplyClaimed
	}
	return s.fire(ctx, q, r, e, Input{}, s.now().UTC())
}

// Queued tells long-polling claims in this process that work may be waiting.
func (s *Service) Queued() { s.queued() }

// Allows reports whether a person's action (confirm, discard, cancel,
// force-cancel, override) would be accepted on r now: what a client shows
// as the run's available actions.
func (s *Service) Allows(r Run, e Event) bool {
	_, err := Next(r.Status, e, Facts{
		PlanOnly: r.PlanOnly, CancelRequestedAt: r.CancelRequestedAt, ForceCancelCoolOff: s.cfg.ForceCancelCoolOff, Now: s.now().UTC(),
	})
	return err == nil
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

// rank keeps the organization's running count and its row in the claim's
// ranking (organization_queues) true after transition t of run r: its
// share whenever a job starts or stops, since when its oldest job has
// waited whenever a platform agent's job joins or leaves the queue.
func rank(ctx context.Context, q *dbsqlc.Queries, r dbsqlc.Run, t Transition) error {
	queued := r.AgentPoolID == nil && t.To.waiting() != t.From.waiting()
	joined, left := queued && t.To.waiting(), queued && !t.To.waiting()
	d := t.To.executing() - t.From.executing()
	if d != 0 {
		if err := q.OrganizationAdjustRunning(ctx, dbsqlc.OrganizationAdjustRunningParams{Delta: d, ID: r.OrganizationID, LeftQueue: left}); err != nil {
			return err
		}
	}
	switch {
	case joined:
		return q.OrganizationQueueJoin(ctx, dbsqlc.OrganizationQueueJoinParams{QueuedAt: *r.QueuedAt, OrganizationID: r.OrganizationID})
	case left && d == 0:
		return q.OrganizationQueueLeave(ctx, r.OrganizationID)
	}
	return nil
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
		StatusTimestamp:   stampEntered(t, now),
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
	// A run that stops executing gives up any Terraform state lock its agent
	// held: a killed agent must not block the next agent. An interrupted
	// apply keeps it: its terraform may still be saving what it created,
	// and the workspace stays locked for the run until a person unlocks it
	// (which releases the state lock too).
	if (t.From == StatusPlanning || t.From == StatusApplying) && t.To != t.From && t.LockReason == "" {
		if err := q.StateLockDeleteByRun(ctx, dbsqlc.StateLockDeleteByRunParams{
			WorkspaceID: r.WorkspaceID, OrganizationID: r.OrganizationID, RunID: &r.ID,
		}); err != nil {
			return r, err
		}
	}
	if err := rank(ctx, q, updated, t); err != nil {
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
				Reason: t.LockReason, LockedForRunID: &r.ID, ID: r.WorkspaceID, OrganizationID: r.OrganizationID,
			}); err != nil {
				return r, err
			}
		}
		if _, err := AdmitNext(ctx, q, r.OrganizationID, r.WorkspaceID, now); err != nil {
			return r, err
		}
	}
	// A plan waiting for its policy check: the check is the event's handler.
	if t.To == StatusPolicyChecking && t.From != t.To {
		if err := events.Emit(ctx, q, events.RunNeedsPolicyCheck, r.OrganizationID, r.WorkspaceID, &r.ID, nil, now); err != nil {
			return r, err
		}
	}
	if !t.From.Terminal() && t.To.Terminal() && !r.PlanOnly {
		if err := cascade(ctx, q, updated, now); err != nil {
			return r, err
		}
	}
	return updated, nil
}

// cascade does what a run's end means downstream, in its transaction: an
// apply leaves a state.changed event for fan-out; a failure (errored,
// canceled, discarded) cancels the pending triggered runs of every
// descendant; either way the direct downstreams' triggered runs that
// waited for this one may now start.
func cascade(ctx context.Context, q *dbsqlc.Queries, r dbsqlc.Run, now time.Time) error {
	switch Status(r.Status) {
	case StatusApplied:
		ws, err := q.WorkspaceGet(ctx, dbsqlc.WorkspaceGetParams{ID: r.WorkspaceID, OrganizationID: r.OrganizationID})
		if err != nil {
			return err
		}
		if err := events.Emit(ctx, q, events.StateChanged, r.OrganizationID, r.WorkspaceID, &r.ID,
			events.StateChange{StateVersionID: ws.CurrentStateVersionID}, now); err != nil {
			return err
		}
	case StatusErrored, StatusCanceled, StatusForceCanceled, StatusDiscarded:
		descendants, err := q.TriggerDescendants(ctx, dbsqlc.TriggerDescendantsParams{WorkspaceID: r.WorkspaceID, OrganizationID: r.OrganizationID})
		if err != nil {
			return err
		}
		for _, d := range descendants {
			p, err := q.RunPendingTriggered(ctx, dbsqlc.RunPendingTriggeredParams{WorkspaceID: d, OrganizationID: r.OrganizationID})
			if errors.Is(err, pgx.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			t, err := Next(StatusPending, EventCancel, Facts{})
			if err != nil {
				return err
			}
			if _, err := apply(ctx, q, p, t, now); err != nil {
				return err
			}
			if err := q.RunSetError(ctx, dbsqlc.RunSetErrorParams{
				ErrorMessage: fmt.Sprintf("canceled: upstream run %s %s", r.ID, r.Status), ID: p.ID, OrganizationID: p.OrganizationID,
			}); err != nil {
				return err
			}
		}
	}
	downstream, err := q.TriggerDownstreamOf(ctx, dbsqlc.TriggerDownstreamOfParams{UpstreamID: r.WorkspaceID, OrganizationID: r.OrganizationID})
	if err != nil {
		return err
	}
	for _, d := range downstream {
		if _, err := AdmitNext(ctx, q, r.OrganizationID, d.DownstreamID, now); err != nil {
			return err
		}
	}
	return nil
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
	// A state lock held outside any run (a person's terraform) would fail
	// the run's plan at once: it waits for the lock instead.
	if _, err := q.StateLockGet(ctx, dbsqlc.StateLockGetParams{WorkspaceID: workspaceID, OrganizationID: orgID}); err == nil {
		return false, nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return false, err
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
		if next.Triggered {
			// A triggered run plans only once its upstreams have settled, so
			// it reads their new state (a diamond runs its tip once, last).
			busy, err := q.RunUpstreamBusy(ctx, dbsqlc.RunUpstreamBusyParams{WorkspaceID: workspaceID, OrganizationID: orgID})
			if err != nil || busy {
				return admitted, err
			}
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
	return withUpstreamWait(ctx, q, view(row.Run, wsFacts{locked: row.WorkspaceLocked, active: row.WorkspaceActiveRunID, stateLocked: row.StateLocked}, atCapacity(row.Organization, time.Now())))
}

// withUpstreamWait names the wait of a triggered run held back by its upstreams.
func withUpstreamWait(ctx context.Context, q *dbsqlc.Queries, r Run) (Run, error) {
	if !r.Triggered || r.WaitReason != WaitAdmission {
		return r, nil
	}
	busy, err := q.RunUpstreamBusy(ctx, dbsqlc.RunUpstreamBusyParams{WorkspaceID: r.WorkspaceID, OrganizationID: r.OrganizationID})
	if busy {
		r.WaitReason = WaitUpstream
	}
	return r, err
}

// atCapacity reports whether the organization's cap or token bucket holds
// its queued jobs back from agents.
func atCapacity(o dbsqlc.Organization, now time.Time) bool {
	return o.Running >= o.MaxConcurrency || org.Bucket(o).Refilled(now).Tokens < 1
}

// wsFacts are what a run's wait reason reads of its workspace.
type wsFacts struct {
	locked      bool
	active      *uuid.UUID
	stateLocked bool
}

func view(r dbsqlc.Run, ws wsFacts, orgAtCapacity bool) Run {
	stamps := map[Status]time.Time{}
	_ = json.Unmarshal(r.StatusTimestamps, &stamps)
	status := Status(r.Status)
	return Run{
		ID:                     r.ID,
		OrganizationID:         r.OrganizationID,
		WorkspaceID:            r.WorkspaceID,
		Number:                 r.Number,
		Status:                 status,
		WaitReason:             waitReason(status, ws, ws.active != nil && *ws.active != r.ID, orgAtCapacity, r.AgentPoolID != nil),
		PlanOnly:               r.PlanOnly,
		IsDestroy:              r.IsDestroy,
		AutoApply:              r.AutoApply,
		Message:                r.Message,
		CancelRequestedAt:      r.CancelRequestedAt,
		StatusTimestamps:       stamps,
		CreatedAt:              r.CreatedAt.UTC(),
		ConfigurationVersionID: r.ConfigurationVersionID,
		Plan:                   planSummary(r),
		Error:                  r.ErrorMessage,
		Triggered:              r.Triggered,
		PlanOptions: PlanOptions{
			RefreshOnly: r.RefreshOnly, SkipRefresh: !r.Refresh, TargetAddrs: r.TargetAddrs, ReplaceAddrs: r.ReplaceAddrs,
		},
	}
}

func planSummary(r dbsqlc.Run) *PlanSummary {
	if r.HasChanges == nil {
		return nil
	}
	p := &PlanSummary{HasChanges: *r.HasChanges}
	for _, v := range []struct {
		dst *int
		src *int32
	}{{&p.Add, r.PlanAdd}, {&p.Change, r.PlanChange}, {&p.Destroy, r.PlanDestroy}} {
		if v.src != nil {
			*v.dst = int(*v.src)
		}
	}
	return p
}

func waitReason(s Status, ws wsFacts, wsHeldByOther, orgAtCapacity, pooled bool) WaitReason {
	switch s {
	case StatusPending:
		switch {
		case wsHeldByOther:
			return WaitWorkspaceBusy
		case ws.locked:
			return WaitWorkspaceLocked
		case ws.stateLocked:
			return WaitStateLocked
		default:
			return WaitAdmission
		}
	case StatusPlanQueued, StatusApplyQueued:
		switch {
		case pooled:
			return WaitAgentPool
		case orgAtCapacity:
			return WaitCapacity
		}
		return WaitAgent
	case StatusPlanned, StatusPolicyChecked:
		return WaitApproval
	case StatusPolicyChecking:
		return WaitPolicyCheck
	case StatusPolicyOverride:
		return WaitPolicyOverride
	}
	return WaitNone
}

// stampEntered is the status_timestamps entry of transition t: none when
// the run stays where it is (a cancel request), so the time it entered
// that status is kept.
func stampEntered(t Transition, at time.Time) []byte {
	if t.To == t.From {
		return []byte("{}")
	}
	return stamp(t.To, at)
}

func stamp(s Status, at time.Time) []byte {
	b, _ := json.Marshal(map[Status]time.Time{s: at.UTC()})
	return b
}
