package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/testkit/awstest"
	"github.com/runplane/runplane/internal/testkit/pgtest"
	"github.com/runplane/runplane/internal/workspace"
)

// TestMain stops the S3/KMS/SQS servers the SQS test starts, with the
// database.
func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	awstest.Stop()
	os.Exit(code)
}

// kind is a kind of event only these tests emit and handle.
const kind events.Kind = "test.happened"

// quick retries in milliseconds, so that a test sees the whole life of
// an event.
var quick = events.Config{MaxAttempts: 3, Visibility: time.Minute, FirstRetry: time.Millisecond, MaxRetry: 4 * time.Millisecond, Retention: time.Hour}

type fixture struct {
	t           *testing.T
	ctx         context.Context
	pool        *pgxpool.Pool
	q           *dbsqlc.Queries
	orgID, wsID uuid.UUID
}

func setup(t *testing.T) *fixture {
	t.Helper()
	pool := pgtest.New(t)
	ctx := context.Background()
	o, err := org.NewService(pool, "admin").Create(ctx, "acme", org.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := workspace.NewService(pool).Create(ctx, o.ID, workspace.CreateOptions{Name: "net"})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, pool: pool, q: dbsqlc.New(pool), orgID: o.ID, wsID: w.ID}
}

// emit commits an event of kind with the payload, as a transition's
// transaction does, and returns its id.
func (f *fixture) emit(k events.Kind, payload any) uuid.UUID {
	f.t.Helper()
	err := dbtx.Run(f.ctx, f.pool, func(q *dbsqlc.Queries) error {
		return events.Emit(f.ctx, q, k, f.orgID, f.wsID, nil, payload, time.Now())
	})
	if err != nil {
		f.t.Fatal(err)
	}
	list, err := events.NewDispatcher(f.pool, quick, nil).List(f.ctx, events.Filter{Kind: k, Limit: 1})
	if err != nil || len(list) != 1 {
		f.t.Fatalf("the emitted event: %v %v", list, err)
	}
	return list[0].ID
}

func (f *fixture) get(id uuid.UUID) dbsqlc.Event {
	f.t.Helper()
	e, err := f.q.EventGet(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

// A handler that keeps failing is tried MaxAttempts times, further apart
// each time, and then dead-lettered with its last error, which the log
// shows; a retry once the cause is fixed delivers it.
func TestAFailingHandlerIsRetriedThenDeadLettered(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d := events.NewDispatcher(f.pool, quick, nil)
	var calls atomic.Int32
	fixed := atomic.Bool{}
	d.Handle(kind, func(ctx context.Context, dl *events.Delivery) error {
		calls.Add(1)
		if !fixed.Load() {
			return errors.New("bucket policy denies s3:GetObject")
		}
		return nil
	})
	id := f.emit(kind, nil)

	var total events.Result
	for deadline := time.Now().Add(10 * time.Second); f.get(id).DeadAt == nil; {
		if time.Now().After(deadline) {
			t.Fatalf("not dead-lettered after %d calls: %+v", calls.Load(), f.get(id))
		}
		res, err := d.DeliverDue(f.ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		total.Failed += res.Failed
		total.DeadLettered += res.DeadLettered
		time.Sleep(2 * time.Millisecond)
	}
	e := f.get(id)
	if calls.Load() != 3 || e.Attempts != 3 || total.Failed != 2 || total.DeadLettered != 1 {
		t.Fatalf("%d calls, %d attempts, sweeps %+v; want 3 attempts, the last dead-lettering", calls.Load(), e.Attempts, total)
	}
	if !strings.Contains(e.LastError, "bucket policy denies") || e.DeliveredAt != nil {
		t.Fatalf("dead letter %+v: want the handler's reason and no delivery", e)
	}
	// Dead: no sweep touches it again.
	time.Sleep(10 * time.Millisecond)
	if res, err := d.DeliverDue(f.ctx, 10); err != nil || res != (events.Result{}) || calls.Load() != 3 {
		t.Fatalf("a dead event was tried again: %+v %v", res, err)
	}
	dead, err := d.List(f.ctx, events.Filter{Status: "dead", Limit: 10})
	if err != nil || len(dead) != 1 || dead[0].ID != id || dead[0].Status() != "dead" {
		t.Fatalf("dead letters: %+v %v", dead, err)
	}

	fixed.Store(true)
	got, err := d.Retry(f.ctx, id)
	if err != nil || got.Status() != "delivered" || got.LastError != "" {
		t.Fatalf("retry: %+v %v", got, err)
	}
	if _, err := d.Retry(f.ctx, id); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("retrying a delivered event: %v, want ErrNotFound", err)
	}
}

// The waits between attempts grow: the second failure waits longer than
// the first.
func TestRetriesBackOff(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cfg := quick
	cfg.MaxAttempts, cfg.FirstRetry, cfg.MaxRetry = 10, time.Second, time.Hour
	d := events.NewDispatcher(f.pool, cfg, nil)
	d.Handle(kind, func(context.Context, *events.Delivery) error { return errors.New("down") })
	id := f.emit(kind, nil)
	var waits []time.Duration
	for range 3 {
		_ = d.Deliver(f.ctx, id)
		e := f.get(id)
		waits = append(waits, time.Until(e.NextAttemptAt))
		// Make it due again without waiting the backoff out.
		if err := f.q.EventMarkFailed(f.ctx, dbsqlc.EventMarkFailedParams{ID: id, Attempts: e.Attempts, LastError: e.LastError, NextAttemptAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if !(waits[0] < waits[1] && waits[1] < waits[2]) || waits[0] < 500*time.Millisecond || waits[2] > 5*time.Second {
		t.Fatalf("waits %v: want about 1 s, 2 s, 4 s", waits)
	}
}

// Delivering an event again — SQS redelivers, the sweep and the process
// that committed it race — runs no handler a second time once it was
// delivered, and a handler's Commit records its effect once even when two
// deliverers both hold the event.
func TestDuplicateDeliveryHasNoExtraEffect(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cfg := quick
	cfg.Visibility = 0 // every deliverer may claim: the worst case
	d := events.NewDispatcher(f.pool, cfg, nil)
	var effects, calls atomic.Int32
	d.Handle(kind, func(ctx context.Context, dl *events.Delivery) error {
		calls.Add(1)
		return dl.Commit(ctx, func(q *dbsqlc.Queries) error {
			effects.Add(1) // counted before the commit: an aborted one may count too
			_, err := q.WorkspaceTakeRunNumber(ctx, dbsqlc.WorkspaceTakeRunNumberParams{ID: f.wsID, OrganizationID: f.orgID})
			return err
		})
	})
	id := f.emit(kind, nil)
	done := make(chan error)
	for range 8 {
		go func() { done <- d.Deliver(f.ctx, id) }()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := d.Deliver(f.ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// The workspace's run counter moved once: one committed effect.
	n, err := f.q.WorkspaceTakeRunNumber(f.ctx, dbsqlc.WorkspaceTakeRunNumberParams{ID: f.wsID, OrganizationID: f.orgID})
	if err != nil || n.Number != 2 {
		t.Fatalf("the handler's effect committed %d times (%d calls): %v", n.Number-1, calls.Load(), err)
	}
	if e := f.get(id); e.DeliveredAt == nil {
		t.Fatalf("not delivered: %+v", e)
	}
}

// A crash between the commit that wrote an event and its delivery — the
// process died before Send, or after claiming it — loses nothing: the
// sweep delivers it, the claimed one once its visibility timeout is over.
func TestACrashBetweenCommitAndDeliveryLosesNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cfg := quick
	cfg.Visibility = 300 * time.Millisecond
	d := events.NewDispatcher(f.pool, cfg, nil)
	var seen []string
	d.Handle(kind, func(_ context.Context, dl *events.Delivery) error {
		var p struct{ N string }
		if err := json.Unmarshal(dl.Payload, &p); err != nil {
			return err
		}
		seen = append(seen, p.N)
		return nil
	})
	// Never sent: the process stopped right after its commit.
	f.emit(kind, map[string]string{"N": "unsent"})
	// Claimed by a deliverer that then died.
	claimed := f.emit(kind, map[string]string{"N": "claimed"})
	now := time.Now()
	if _, err := f.q.EventClaim(f.ctx, dbsqlc.EventClaimParams{ID: claimed, Now: now, VisibleAt: now.Add(cfg.Visibility)}); err != nil {
		t.Fatal(err)
	}

	if res, err := d.DeliverDue(f.ctx, 10); err != nil || res.Delivered != 1 || len(seen) != 1 || seen[0] != "unsent" {
		t.Fatalf("first sweep: %+v %v, handled %v", res, err, seen)
	}
	time.Sleep(cfg.Visibility + 50*time.Millisecond)
	if res, err := d.DeliverDue(f.ctx, 10); err != nil || res.Delivered != 1 || len(seen) != 2 || seen[1] != "claimed" {
		t.Fatalf("sweep after the visibility timeout: %+v %v, handled %v", res, err, seen)
	}
	if e := f.get(claimed); e.Attempts != 2 || e.DeliveredAt == nil {
		t.Fatalf("the crashed delivery's event: %+v", e)
	}
}

// An event no handler wants is delivered at once and stays in the log,
// newest first per workspace, until the retention forgets it.
func TestTheLogKeepsEventsForItsReaders(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cfg := quick
	cfg.Retention = 200 * time.Millisecond
	d := events.NewDispatcher(f.pool, cfg, nil)
	first := f.emit("test.first", nil)
	second := f.emit("test.second", nil)
	if res, err := d.DeliverDue(f.ctx, 10); err != nil || res.Delivered != 2 || res.Pruned != 0 {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	list, err := d.List(f.ctx, events.Filter{WorkspaceID: f.wsID, Status: "delivered", Limit: 10})
	if err != nil || len(list) != 2 || list[0].ID != second || list[1].ID != first {
		t.Fatalf("the workspace's log: %+v %v", list, err)
	}
	if other, err := d.List(f.ctx, events.Filter{WorkspaceID: uuid.New(), Limit: 10}); err != nil || len(other) != 0 {
		t.Fatalf("another workspace's log: %+v %v", other, err)
	}
	time.Sleep(300 * time.Millisecond)
	if res, err := d.DeliverDue(f.ctx, 10); err != nil || res.Pruned != 2 {
		t.Fatalf("sweep past the retention: %+v %v", res, err)
	}
}

// Registering a second handler for a kind is a wiring mistake caught at
// start, not a silent override.
func TestOneHandlerPerKind(t *testing.T) {
	t.Parallel()
	d := events.NewDispatcher(nil, quick, nil)
	d.Handle(kind, func(context.Context, *events.Delivery) error { return nil })
	defer func() {
		if recover() == nil {
			t.Fatal("a second handler was accepted")
		}
	}()
	d.Handle(kind, func(context.Context, *events.Delivery) error { return nil })
}

// Send, right after the commit, delivers the run's events in process
// without claiming them first and without holding up its caller; a
// failure there counts as the first attempt and leaves the event to the
// sweep's retries.
func TestSendDeliversInProcess(t *testing.T) {
	t.Parallel()
	f := setup(t)
	runs := run.NewService(f.pool, run.DefaultConfig, nil)
	r, err := runs.Create(f.ctx, f.orgID, f.wsID, run.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := events.NewDispatcher(f.pool, quick, nil)
	var calls atomic.Int32
	d.Handle(kind, func(ctx context.Context, dl *events.Delivery) error {
		if calls.Add(1) == 1 {
			return errors.New("first try fails")
		}
		return dl.Commit(ctx, func(*dbsqlc.Queries) error { return nil })
	})
	emit := func() uuid.UUID {
		if err := dbtx.Run(f.ctx, f.pool, func(q *dbsqlc.Queries) error {
			return events.Emit(f.ctx, q, kind, f.orgID, f.wsID, &r.ID, nil, time.Now())
		}); err != nil {
			t.Fatal(err)
		}
		list, err := d.List(f.ctx, events.Filter{Kind: kind, Status: "pending", Limit: 1})
		if err != nil || len(list) != 1 {
			t.Fatalf("pending: %v %v", list, err)
		}
		return list[0].ID
	}
	failing := emit()
	d.Send(f.ctx, r.ID)
	d.Drain()
	if e := f.get(failing); e.Attempts != 1 || e.DeliveredAt != nil || e.LastError != "first try fails" {
		t.Fatalf("after a failed Send: %+v", e)
	}
	time.Sleep(5 * time.Millisecond)
	if res, err := d.DeliverDue(f.ctx, 10); err != nil || res.Delivered != 1 {
		t.Fatalf("the sweep's retry: %+v %v", res, err)
	}
	if e := f.get(failing); e.Attempts != 2 || e.DeliveredAt == nil {
		t.Fatalf("after the retry: %+v", e)
	}

	fresh := emit()
	d.Send(f.ctx, r.ID)
	d.Drain()
	d.Send(f.ctx, r.ID)
	d.Drain()
	if e := f.get(fresh); e.Attempts != 0 || e.DeliveredAt == nil || calls.Load() != 3 {
		t.Fatalf("a fresh event sent twice: %+v after %d calls; want delivered by one call, unclaimed", e, calls.Load())
	}
}
