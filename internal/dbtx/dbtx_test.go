package dbtx_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/testkit/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func setup(t *testing.T, orgs ...string) (context.Context, *dbsqlc.Queries, func(fn func(q *dbsqlc.Queries) error) error) {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.New(t)
	q := dbsqlc.New(pool)
	for _, name := range orgs {
		if _, err := q.OrganizationCreate(ctx, dbsqlc.OrganizationCreateParams{Name: name, MaxConcurrency: 1, Weight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	return ctx, q, func(fn func(q *dbsqlc.Queries) error) error { return dbtx.Run(ctx, pool, fn) }
}

// Read-modify-write increments from many goroutines: every lost update would
// show as a short count; serialization failures must be retried, not dropped.
func TestConcurrentIncrementsAreExact(t *testing.T) {
	t.Parallel()
	ctx, q, run := setup(t, "counter")
	const workers, each = 16, 25
	var retried atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				attempt := 0
				err := run(func(q *dbsqlc.Queries) error {
					if attempt++; attempt > 1 {
						retried.Add(1)
					}
					o, err := q.OrganizationGetByName(ctx, "counter")
					if err != nil {
						return err
					}
					_, err = q.OrganizationUpdateLimits(ctx, dbsqlc.OrganizationUpdateLimitsParams{
						Name: "counter", MaxConcurrency: o.MaxConcurrency + 1, Weight: o.Weight,
						BucketBurst: o.BucketBurst, BucketRefillPerSecond: o.BucketRefillPerSecond,
					})
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	o, err := q.OrganizationGetByName(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := o.MaxConcurrency, int32(1+workers*each); got != want {
		t.Fatalf("count %d, want %d", got, want)
	}
	if retried.Load() == 0 {
		t.Fatal("no transaction was retried: the test did not create conflicts")
	}
	t.Logf("%d retries", retried.Load())
}

// Write skew: each transaction reads both rows and writes one. PostgreSQL lets
// both statements through and fails the second COMMIT; the helper must retry
// the whole transaction, which then sees the first one's write.
func TestSerializationFailureAtCommitIsRetried(t *testing.T) {
	t.Parallel()
	ctx, q, run := setup(t, "a", "b")
	sum := func(q *dbsqlc.Queries) (int32, error) {
		a, err := q.OrganizationGetByName(ctx, "a")
		if err != nil {
			return 0, err
		}
		b, err := q.OrganizationGetByName(ctx, "b")
		return a.Weight + b.Weight, err
	}
	var bothRead, bothWrote sync.WaitGroup
	bothRead.Add(2)
	bothWrote.Add(2)
	firstCommitted := make(chan struct{})
	var secondAttempts atomic.Int32
	var secondFirstFnOK atomic.Bool
	writer := func(name string, first bool) error {
		attempt := 0
		return run(func(q *dbsqlc.Queries) error {
			attempt++
			if !first {
				secondAttempts.Add(1)
			}
			s, err := sum(q)
			if err != nil {
				return err
			}
			if attempt == 1 {
				bothRead.Done()
				bothRead.Wait()
			}
			if _, err := q.OrganizationUpdateLimits(ctx, dbsqlc.OrganizationUpdateLimitsParams{
				Name: name, MaxConcurrency: 1, Weight: s, BucketBurst: 1, BucketRefillPerSecond: 1,
			}); err != nil {
				return err
			}
			if attempt == 1 {
				bothWrote.Done()
				bothWrote.Wait()
				if !first {
					<-firstCommitted
					secondFirstFnOK.Store(true)
				}
			}
			return nil
		})
	}
	errs := make(chan error, 2)
	go func() { err := writer("a", true); close(firstCommitted); errs <- err }()
	go func() { errs <- writer("b", false) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if !secondFirstFnOK.Load() || secondAttempts.Load() != 2 {
		t.Fatalf("want the second transaction's first attempt to fail only at COMMIT and run twice; fn completed=%v attempts=%d",
			secondFirstFnOK.Load(), secondAttempts.Load())
	}
	a, _ := q.OrganizationGetByName(ctx, "a")
	b, _ := q.OrganizationGetByName(ctx, "b")
	if a.Weight != 2 || b.Weight != 3 {
		t.Fatalf("weights a=%d b=%d, want the serial outcome a=2 b=3", a.Weight, b.Weight)
	}
}

func TestNonRetryableErrorIsReturnedOnce(t *testing.T) {
	t.Parallel()
	ctx, _, run := setup(t, "dup")
	calls := 0
	err := run(func(q *dbsqlc.Queries) error {
		calls++
		_, err := q.OrganizationCreate(ctx, dbsqlc.OrganizationCreateParams{Name: "dup", MaxConcurrency: 1, Weight: 1})
		return err
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" || calls != 1 {
		t.Fatalf("want one call and a unique violation, got %d calls, %v", calls, err)
	}
}

// A transaction that keeps conflicting is retried for a time, not for a
// number of attempts: on a busy machine 20 quick conflicts in a row happen
// while the work is still possible.
func TestRetriesForATimeNotACount(t *testing.T) {
	t.Parallel()
	_, _, run := setup(t)
	calls := 0
	err := run(func(*dbsqlc.Queries) error {
		if calls++; calls <= 30 {
			return &pgconn.PgError{Code: "40001", Message: "synthetic"}
		}
		return nil
	})
	if err != nil || calls != 31 {
		t.Fatalf("calls %d err %v, want success on the 31st", calls, err)
	}
}

func TestGivesUpAfterTheRetryBudget(t *testing.T) {
	t.Parallel()
	_, _, run := setup(t)
	start := time.Now()
	err := run(func(*dbsqlc.Queries) error {
		return &pgconn.PgError{Code: "40001", Message: "synthetic"}
	})
	took := time.Since(start)
	if !errors.Is(err, dbtx.ErrTooManyRetries) || took > dbtx.RetryBudget+time.Second || took < dbtx.RetryBudget/2 {
		t.Fatalf("took %s err %v, want ErrTooManyRetries after about %s", took, err, dbtx.RetryBudget)
	}
}
