package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/run"
)

// DB is what the tick needs of the database; *pgxpool.Pool satisfies it.
type DB interface {
	dbtx.Beginner
	dbsqlc.DBTX
}

// Agents is the agent protocol's side of the tick (*agent.Service).
type Agents interface {
	// Reap ends jobs whose lease expired.
	Reap(ctx context.Context) (int, error)
	// Claimable counts jobs an agent could claim now, up to max.
	Claimable(ctx context.Context, max int) (int, error)
	// Running counts the jobs agents hold now.
	Running(ctx context.Context) (int, error)
}

// Launcher starts ephemeral agents (*fargate.Launcher): as many as the
// claimable jobs need, given the running ones.
type Launcher interface {
	Launch(ctx context.Context, claimable, running int) (int, error)
}

// Events is the event log's side of the tick (*events.Dispatcher).
type Events interface {
	DeliverDue(ctx context.Context, max int) (events.Result, error)
}

// Workspaces purges deleted workspaces past their retention
// (*workspace.Service).
type Workspaces interface {
	Purge(ctx context.Context, max int) (int, error)
}

// Audit seals the audit trails with entries waiting (*audit.Service).
type Audit interface {
	SealAll(ctx context.Context, max int) (int, error)
}

// batch bounds one tick's work so a tick stays short; the next tick continues.
const batch = 500

// Result is what one tick did, or several summed (Add).
type Result struct {
	// Reaped counts jobs whose lease expired (see jobs.Service.Reap).
	Reaped int `json:"reaped"`
	// Events is what the sweep of the event log did.
	Events events.Result `json:"events"`
	// Admitted counts pending runs admitted that no event had admitted.
	Admitted int `json:"admitted"`
	// Agents is how many agents the claimable work could use now, capped
	// at the pool size: what an autoscaler of agents should run.
	Agents int `json:"agents"`
	// Launched counts the agents the tick started (with a Launcher).
	Launched int `json:"launched"`
	// Purged counts deleted workspaces removed for good.
	Purged int `json:"purged"`
	// AuditSealed counts organizations whose new audit entries were sealed.
	AuditSealed int `json:"audit_sealed"`
}

// Add folds a later tick into r: its repairs add up, its Agents (a level,
// not a count) replaces r's.
func (r *Result) Add(later Result) {
	r.Reaped += later.Reaped
	r.Events.Delivered += later.Events.Delivered
	r.Events.Failed += later.Events.Failed
	r.Events.DeadLettered += later.Events.DeadLettered
	r.Events.Pruned += later.Events.Pruned
	r.Admitted += later.Admitted
	r.Agents = later.Agents
	r.Launched += later.Launched
	r.Purged += later.Purged
	r.AuditSealed += later.AuditSealed
}

// repaired reports whether the tick found anything to do.
func (r Result) repaired() bool {
	return r.Reaped > 0 || r.Events != (events.Result{}) || r.Admitted > 0 || r.Launched > 0 || r.Purged > 0
}

// uncappedClaimable bounds the claimable jobs a tick counts when no pool
// size caps them: the count reads one ranking entry and a few runs per
// organization, so a bound keeps the tick's cost flat however many
// organizations wait; far more than one tick launches.
const uncappedClaimable = 1000

// Scheduler is the tick and its loops.
type Scheduler struct {
	DB     DB
	Agents Agents
	Events Events
	// PoolSize caps Result.Agents (0: uncappedClaimable).
	PoolSize int
	// Launcher, when set, starts agents for the claimable jobs each tick.
	Launcher Launcher
	// Workspaces, when set, has deleted workspaces purged after their
	// retention.
	Workspaces Workspaces
	// Audit, when set, has new audit entries sealed.
	Audit Audit
}

// purgeBatch bounds the workspaces one tick purges: each is a transaction
// over everything the workspace held.
const purgeBatch = 10

// Tick runs the safety net once.
func (s *Scheduler) Tick(ctx context.Context) (Result, error) {
	var res Result
	var errs []error
	var err error
	if res.Reaped, err = s.Agents.Reap(ctx); err != nil {
		errs = append(errs, fmt.Errorf("tick: reap: %w", err))
	}
	if res.Events, err = s.Events.DeliverDue(ctx, batch); err != nil {
		errs = append(errs, fmt.Errorf("tick: events: %w", err))
	}
	if res.Admitted, err = Admit(ctx, s.DB); err != nil {
		errs = append(errs, err)
	}
	if s.Audit != nil {
		if res.AuditSealed, err = s.Audit.SealAll(ctx, batch); err != nil {
			errs = append(errs, fmt.Errorf("tick: audit: %w", err))
		}
	}
	if s.Workspaces != nil {
		if res.Purged, err = s.Workspaces.Purge(ctx, purgeBatch); err != nil {
			errs = append(errs, fmt.Errorf("tick: purge deleted workspaces: %w", err))
		}
	}
	pool := s.PoolSize
	if pool <= 0 {
		pool = uncappedClaimable
	}
	if res.Agents, err = s.Agents.Claimable(ctx, pool); err != nil {
		errs = append(errs, fmt.Errorf("tick: claimable: %w", err))
	} else if s.Launcher != nil && res.Agents > 0 {
		if err := s.launch(ctx, &res); err != nil {
			errs = append(errs, fmt.Errorf("tick: launch agents: %w", err))
		}
	}
	return res, errors.Join(errs...)
}

func (s *Scheduler) launch(ctx context.Context, res *Result) error {
	running, err := s.Agents.Running(ctx)
	if err != nil {
		return err
	}
	res.Launched, err = s.Launcher.Launch(ctx, res.Agents, running)
	return err
}

// Run ticks every interval until ctx ends: `runplane server`'s loop. A
// tick that repaired something or failed is logged.
func (s *Scheduler) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := s.Tick(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			slog.ErrorContext(ctx, "tick failed", "result", res, "err", err)
		case res.repaired():
			slog.InfoContext(ctx, "tick repaired", "result", res)
		}
	}
}

// Invoke ticks up to ticks times, every apart, stopping early rather than
// be cut off by ctx's deadline: one scheduler function invocation
// (EventBridge fires at most once a minute). The result is logged whole.
func (s *Scheduler) Invoke(ctx context.Context, ticks int, every time.Duration) (Result, error) {
	var total Result
	for i := range ticks {
		if i > 0 {
			if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < every+5*time.Second {
				break
			}
			select {
			case <-ctx.Done():
				return total, ctx.Err()
			case <-time.After(every):
			}
		}
		res, err := s.Tick(ctx)
		total.Add(res)
		if err != nil {
			slog.ErrorContext(ctx, "tick failed", "result", total, "err", err)
			return total, err
		}
	}
	slog.InfoContext(ctx, "ticked", "result", total)
	return total, nil
}

// Admit admits pending runs on free, unlocked workspaces, up to a batch.
func Admit(ctx context.Context, db DB) (int, error) {
	stranded, err := dbsqlc.New(db).WorkspaceListAdmittable(ctx, batch)
	if err != nil {
		return 0, fmt.Errorf("tick: list admittable: %w", err)
	}
	n := 0
	for _, w := range stranded {
		var admitted bool
		err := dbtx.Run(ctx, db, func(q *dbsqlc.Queries) error {
			var err error
			admitted, err = run.AdmitNext(ctx, q, w.OrganizationID, w.WorkspaceID, time.Now().UTC())
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			// One workspace's failure must not stop the others' admission.
			slog.ErrorContext(ctx, "tick: admitting failed; the next tick tries again", "workspace", w.WorkspaceID, "err", err)
			continue
		}
		if admitted {
			n++
		}
	}
	return n, nil
}
