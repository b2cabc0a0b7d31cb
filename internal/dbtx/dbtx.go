package dbtx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/fault"
)

// Beginner starts transactions; *pgxpool.Pool satisfies it.
type Beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// A conflicting transaction is retried until both RetryBudget has passed and
// MinAttempts were made. Either alone gives up too early: a count of quick
// attempts runs out in milliseconds while conflicts come fast, and a time
// alone allows only a few attempts when each is slow (a loaded machine).
const (
	RetryBudget = 5 * time.Second
	MinAttempts = 20
)

// conflicts counts serialization failures and deadlocks retried in this
// process: the work SERIALIZABLE threw away, which latency alone hides.
var conflicts atomic.Int64

// Conflicts is how many transactions this process has had to run again.
func Conflicts() int64 { return conflicts.Load() }

// ErrTooManyRetries wraps the last serialization failure when the retries ran out.
var ErrTooManyRetries = fault.New(fault.Unavailable, "contention", "too much concurrent activity on this object; retry")

var serializable = pgx.TxOptions{IsoLevel: pgx.Serializable}

// Run calls fn inside a SERIALIZABLE transaction and commits. On a
// serialization failure — raised by any statement or by COMMIT itself — it
// rolls back, waits a jittered, growing backoff and runs fn again in a new
// transaction.
func Run(ctx context.Context, db Beginner, fn func(q *dbsqlc.Queries) error) error {
	return RunTx(ctx, db, func(tx pgx.Tx) error { return fn(dbsqlc.New(tx)) })
}

// RunTx is Run for callers that need the pgx.Tx itself.
func RunTx(ctx context.Context, db Beginner, fn func(tx pgx.Tx) error) error {
	deadline := time.Now().Add(RetryBudget)
	for attempt := 0; ; attempt++ {
		err := attemptOnce(ctx, db, fn)
		if err == nil || !Retryable(err) {
			return err
		}
		conflicts.Add(1)
		wait := backoff(attempt + 1)
		if attempt+1 >= MinAttempts && time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("%w for %s (%d attempts): %w", ErrTooManyRetries, RetryBudget, attempt+1, err)
		}
		if serr := sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w (last: %w)", serr, err)
		}
	}
}

func attemptOnce(ctx context.Context, db Beginner, fn func(tx pgx.Tx) error) error {
	tx, err := db.BeginTx(ctx, serializable)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Retryable reports whether err is a serialization failure or deadlock, after
// which the whole transaction may simply be run again.
func Retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	return false
}

func backoff(attempt int) time.Duration {
	base := time.Millisecond << min(attempt, 6) // 2ms … 64ms, jittered ±50 %
	return base/2 + rand.N(base)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// IsUniqueViolation reports whether err is a unique constraint refusing a
// duplicate (SQLSTATE 23505): a name already taken.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// Unavailable reports whether err means the database could not be reached
// or is shutting down or starting (connection refused, SQLSTATE class 08,
// 57P01-57P03): nothing was decided, and the same request may succeed in
// a moment.
func Unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
