package fairshare

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
)

// rankingKey names an organization's refresh among a transaction's
// after-commit work, so that many transitions refresh it once.
type rankingKey uuid.UUID

// Changed records, in the caller's transaction, that organization orgID's
// row in the claim's ranking may no longer say what its counters and runs
// say, and has it refreshed once that transaction commits. The record is
// an insert that no SERIALIZABLE transaction reads, so transitions of
// different organizations never conflict through the ranking.
func Changed(ctx context.Context, q *dbsqlc.Queries, orgID uuid.UUID) error {
	if err := q.OrganizationQueueChanged(ctx, orgID); err != nil {
		return err
	}
	dbtx.AfterCommit(q, rankingKey(orgID), func(ctx context.Context, db dbtx.Beginner) {
		if err := Refresh(ctx, db, orgID); err != nil {
			slog.WarnContext(ctx, "refreshing an organization's place in the claim's ranking failed; the tick will", "organization", orgID, "err", err)
		}
	})
	return nil
}

// Refresh recomputes organization orgID's ranking row from what has
// committed: it locks the row, drops the change records, then reads the
// counters and runs in a statement that began after both, so whichever
// refresh takes the lock last saw every transition recorded before it.
func Refresh(ctx context.Context, db dbtx.Beginner, orgID uuid.UUID) error {
	return dbtx.RunReadCommitted(ctx, db, func(q *dbsqlc.Queries) error {
		if err := q.OrganizationQueueLock(ctx, orgID); err != nil {
			return err
		}
		if err := q.OrganizationQueueChangesDelete(ctx, orgID); err != nil {
			return err
		}
		return q.OrganizationQueueRefresh(ctx, orgID)
	})
}

// RefreshStale refreshes up to max organizations whose change records are
// older than age, what a refresh lost between a commit and a crash left
// behind, and returns how many it refreshed.
func RefreshStale(ctx context.Context, db dbtx.Beginner, age time.Duration, max int) (int, error) {
	var orgs []uuid.UUID
	err := dbtx.RunReadCommitted(ctx, db, func(q *dbsqlc.Queries) error {
		var err error
		orgs, err = q.OrganizationQueueChangesStale(ctx, dbsqlc.OrganizationQueueChangesStaleParams{Before: time.Now().Add(-age), MaxRows: int32(max)})
		return err
	})
	if err != nil {
		return 0, err
	}
	for i, id := range orgs {
		if err := Refresh(ctx, db, id); err != nil {
			return i, err
		}
	}
	return len(orgs), nil
}
