package dbtx

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/runplane/runplane/internal/dbsqlc"
)

// Beginner starts transactions; *pgxpool.Pool satisfies it.
type Beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// MaxAttempts bounds the retries of one transaction.
const MaxAttempts = 20

// ErrTooManyRetries wraps the last serialization failure when MaxAttempts ran out.
var ErrTooManyRetries = errors.New("transaction kept conflicting")

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
	var lastErr error
	for attempt := range MaxAttempts {
		if attempt > 0 {
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return fmt.Errorf("%w (last: %w)", err, lastErr)
			}
		}
		err := attemptOnce(ctx, db, fn)
		if err == nil || !Retryable(err) {
			return err
		}
		lastErr = err
	}
	return fmt.Errorf("%w after %d attempts: %w", ErrTooManyRetries, MaxAttempts, lastErr)
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
	base := time.Millisecond << min(attempt, 7) // 2ms … 128ms
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
