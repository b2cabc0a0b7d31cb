package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/validate"
)

// DB is what the dispatcher needs of the database; *pgxpool.Pool satisfies it.
type DB interface {
	dbtx.Beginner
	dbsqlc.DBTX
}

// Handler reacts to one event. It is called at least once per event and
// must be idempotent; an error has the event tried again later.
type Handler func(ctx context.Context, d *Delivery) error

// Queue carries event ids to a deliverer elsewhere (SQS on AWS).
type Queue interface {
	Send(ctx context.Context, eventID uuid.UUID) error
}

// Config bounds delivery.
type Config struct {
	// MaxAttempts is how many failed attempts dead-letter an event.
	MaxAttempts int
	// Visibility is how long a claimed attempt hides the event from other
	// deliverers: longer than any handler takes (a policy check's
	// evaluation is cut at 20 s).
	Visibility time.Duration
	// FirstRetry is the wait after the first failure; each next one
	// doubles, up to MaxRetry.
	FirstRetry, MaxRetry time.Duration
	// Retention is how long delivered events stay in the log.
	Retention time.Duration
}

// DefaultConfig retries for about half an hour before dead-lettering.
var DefaultConfig = Config{
	MaxAttempts: 10, Visibility: time.Minute, FirstRetry: time.Second, MaxRetry: 5 * time.Minute,
	Retention: 30 * 24 * time.Hour,
}

// Dispatcher delivers the log's events to their handlers.
type Dispatcher struct {
	db       DB
	cfg      Config
	handlers map[Kind]Handler
	queue    Queue
	now      func() time.Time
	inflight sync.WaitGroup
}

// NewDispatcher returns a dispatcher with no handlers. A nil queue
// delivers in process.
func NewDispatcher(db DB, cfg Config, queue Queue) *Dispatcher {
	return &Dispatcher{db: db, cfg: cfg, handlers: map[Kind]Handler{}, queue: queue, now: time.Now}
}

// Handle registers the handler of a kind; wiring code calls it before
// anything is delivered. Events of a kind with no handler are delivered
// at once: they stay in the log for its readers.
func (d *Dispatcher) Handle(kind Kind, h Handler) {
	if _, dup := d.handlers[kind]; dup {
		panic("events: a second handler for " + string(kind))
	}
	d.handlers[kind] = h
}

// Delivery is one attempt at delivering an event.
type Delivery struct {
	Event
	d         *Dispatcher
	committed bool
}

// Commit runs fn in a transaction that also records the event delivered,
// so a handler's writes and the record of them commit together or not at
// all. If another deliverer got there first, fn is not run and Commit
// returns nil: the event's effect happened, once.
func (dl *Delivery) Commit(ctx context.Context, fn func(q *dbsqlc.Queries) error) error {
	err := dbtx.Run(ctx, dl.d.db, func(q *dbsqlc.Queries) error {
		now := dl.d.now().UTC()
		n, err := q.EventMarkDelivered(ctx, dbsqlc.EventMarkDeliveredParams{Now: &now, ID: dl.ID})
		if err != nil || n == 0 {
			return err
		}
		return fn(q)
	})
	if err == nil {
		dl.committed = true
	}
	return err
}

// Send hands a run's due events on once the transaction that wrote them
// committed: to the queue, or to a delivery in process that starts now and
// does not hold up the caller (an agent's finish). A failure is logged,
// not returned: the transition stands, and the sweep delivers whatever
// Send did not.
//
// Delivered in process, an event is not claimed first: the handler's
// Commit records the delivery in the handler's own transaction, so a fresh
// event costs one transaction, as if the transition had done the work
// itself. A sweep that takes it meanwhile only repeats an idempotent
// handler.
func (d *Dispatcher) Send(ctx context.Context, runID uuid.UUID) {
	if d.queue == nil {
		d.inflight.Add(1)
		go func() {
			defer d.inflight.Done()
			d.send(context.WithoutCancel(ctx), runID)
		}()
		return
	}
	d.send(ctx, runID)
}

func (d *Dispatcher) send(ctx context.Context, runID uuid.UUID) {
	rows, err := dbsqlc.New(d.db).EventListDueByRun(ctx, dbsqlc.EventListDueByRunParams{RunID: &runID, Now: d.now().UTC()})
	for _, row := range rows {
		if d.queue != nil {
			err = d.queue.Send(ctx, row.ID)
		} else {
			_, err = d.handle(ctx, view(row), int(row.Attempts)+1)
		}
		if err != nil {
			break
		}
	}
	if err != nil {
		slog.ErrorContext(ctx, "handing on a run's events failed; the sweep will deliver them", "run", runID, "err", err)
	}
}

// Drain waits for the deliveries Send started in process: a stopping
// server lets them finish (an unfinished one is the sweep's after the
// next start), tests wait for their effect.
func (d *Dispatcher) Drain() { d.inflight.Wait() }

// Deliver makes one attempt at an event if it is due; one that is not
// (delivered, dead, held by another deliverer or waiting for its retry)
// is left alone. The error is the handler's, if it failed.
func (d *Dispatcher) Deliver(ctx context.Context, id uuid.UUID) error {
	_, err := d.deliver(ctx, id)
	return err
}

// Result counts what one sweep did.
type Result struct {
	Delivered    int `json:"delivered"`
	Failed       int `json:"failed"`
	DeadLettered int `json:"dead_lettered"`
	Pruned       int `json:"pruned"`
}

type outcome int

const (
	notDue outcome = iota
	delivered
	failed
	deadLettered
)

// DeliverDue makes one attempt at every due event, oldest due first, up
// to max, and forgets delivered events past the retention: the sweep the
// scheduler tick runs.
func (d *Dispatcher) DeliverDue(ctx context.Context, max int) (Result, error) {
	var res Result
	now := d.now().UTC()
	ids, err := dbsqlc.New(d.db).EventListDue(ctx, dbsqlc.EventListDueParams{Now: now, MaxRows: int32(max)})
	if err != nil {
		return res, fmt.Errorf("events: list due: %w", err)
	}
	for _, id := range ids {
		out, err := d.deliver(ctx, id)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		switch out {
		case delivered:
			res.Delivered++
		case failed:
			res.Failed++
		case deadLettered:
			res.DeadLettered++
		}
		if err != nil && out == notDue {
			// The database, not a handler: the next sweep tries again.
			return res, err
		}
	}
	before := now.Add(-d.cfg.Retention)
	pruned, err := dbsqlc.New(d.db).EventPrune(ctx, dbsqlc.EventPruneParams{Before: &before, MaxRows: int32(max)})
	res.Pruned = int(pruned)
	if err != nil {
		return res, fmt.Errorf("events: prune: %w", err)
	}
	return res, nil
}

func (d *Dispatcher) deliver(ctx context.Context, id uuid.UUID) (outcome, error) {
	var row dbsqlc.Event
	err := dbtx.Run(ctx, d.db, func(q *dbsqlc.Queries) error {
		now := d.now().UTC()
		var err error
		row, err = q.EventClaim(ctx, dbsqlc.EventClaimParams{ID: id, Now: now, VisibleAt: now.Add(d.cfg.Visibility)})
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return notDue, nil
	}
	if err != nil {
		return notDue, fmt.Errorf("events: claim %s: %w", id, err)
	}
	return d.handle(ctx, view(row), int(row.Attempts))
}

// handle runs the event's handler as its attempt-th attempt and records
// the outcome.
func (d *Dispatcher) handle(ctx context.Context, ev Event, attempt int) (outcome, error) {
	dl := &Delivery{Event: ev, d: d}
	var err error
	if h := d.handlers[dl.Kind]; h != nil {
		err = h(ctx, dl)
	}
	// The outcome is recorded even when the caller has gone (an agent's
	// finish request that was cut): otherwise the event waits out the
	// visibility timeout.
	record, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err == nil {
		if !dl.committed {
			now := d.now().UTC()
			if _, err := dbsqlc.New(d.db).EventMarkDelivered(record, dbsqlc.EventMarkDeliveredParams{Now: &now, ID: ev.ID}); err != nil {
				return delivered, fmt.Errorf("events: mark %s delivered: %w", ev.ID, err)
			}
		}
		return delivered, nil
	}
	ev.Attempts = attempt
	return d.fail(record, ev, err)
}

// fail records a handler's failure: due again after a backoff, or dead.
func (d *Dispatcher) fail(ctx context.Context, ev Event, cause error) (outcome, error) {
	now := d.now().UTC()
	reason := validate.Clean(cause.Error())
	if len(reason) > 2000 {
		reason = reason[:2000]
	}
	p := dbsqlc.EventMarkFailedParams{ID: ev.ID, Attempts: int32(ev.Attempts), LastError: reason, NextAttemptAt: now.Add(d.retryAfter(ev.Attempts))}
	out := failed
	if ev.Attempts >= d.cfg.MaxAttempts {
		p.DeadAt, out = &now, deadLettered
		slog.ErrorContext(ctx, "event dead-lettered: its handler kept failing; retry it through the admin API once the cause is fixed",
			"event", ev.ID, "kind", ev.Kind, "run", ev.RunID, "attempts", ev.Attempts, "err", reason)
	} else {
		slog.WarnContext(ctx, "event handler failed; it will be tried again", "event", ev.ID, "kind", ev.Kind,
			"attempt", ev.Attempts, "next_attempt_at", p.NextAttemptAt, "err", reason)
	}
	if err := dbsqlc.New(d.db).EventMarkFailed(ctx, p); err != nil {
		return out, fmt.Errorf("events: record the failure of %s: %w (handler: %w)", ev.ID, err, cause)
	}
	return out, fmt.Errorf("events: %s %s attempt %d: %w", ev.Kind, ev.ID, ev.Attempts, cause)
}

// retryAfter is the wait after the given number of failed attempts.
func (d *Dispatcher) retryAfter(attempts int) time.Duration {
	wait := d.cfg.FirstRetry
	for i := 1; i < attempts && wait < d.cfg.MaxRetry; i++ {
		wait *= 2
	}
	return min(wait, d.cfg.MaxRetry)
}

// Filter selects events from the log.
type Filter struct {
	OrganizationID, WorkspaceID uuid.UUID
	Kind                        Kind
	// Status is pending, delivered, dead or empty for all.
	Status string
	// Before pages backwards: only events created before it (zero: now).
	Before time.Time
	Limit  int
}

// List returns the log's events matching f, newest first.
func (d *Dispatcher) List(ctx context.Context, f Filter) ([]Event, error) {
	if f.Before.IsZero() {
		f.Before = d.now().Add(time.Minute)
	}
	rows, err := dbsqlc.New(d.db).EventList(ctx, dbsqlc.EventListParams{
		OrganizationID: f.OrganizationID, WorkspaceID: f.WorkspaceID, Kind: string(f.Kind), Status: f.Status,
		Before: f.Before, MaxRows: int32(f.Limit),
	})
	out := make([]Event, 0, len(rows))
	for _, r := range rows {
		out = append(out, view(r))
	}
	return out, err
}

// Retry gives a dead event new attempts and makes the first now. It
// returns the event as that attempt left it: delivered, or pending with
// the handler's new error.
func (d *Dispatcher) Retry(ctx context.Context, id uuid.UUID) (Event, error) {
	q := dbsqlc.New(d.db)
	n, err := q.EventRetry(ctx, dbsqlc.EventRetryParams{Now: d.now().UTC(), ID: id})
	if err != nil {
		return Event{}, err
	}
	if n == 0 {
		return Event{}, fmt.Errorf("%w: no dead event %s", ErrNotFound, id)
	}
	if out, err := d.deliver(ctx, id); out == notDue && err != nil {
		return Event{}, err
	}
	row, err := q.EventGet(ctx, id)
	return view(row), err
}
