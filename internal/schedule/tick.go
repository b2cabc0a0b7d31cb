package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/run"
)

// DB is what the tick needs of the database; *pgxpool.Pool satisfies it.
type DB interface {
	dbtx.Beginner
	dbsqlc.DBTX
}

// batch bounds one tick's work so a tick stays short; the next tick continues.
const batch = 500

// Result counts what one tick repaired.
type Result struct {
	Admitted int `json:"admitted"`
	// Reaped counts jobs whose lease expired (see agent.Service.Reap).
	Reaped int `json:"reaped"`
	// Relayed counts state_changed events the tick delivered itself.
	Relayed int `json:"relayed"`
	// PolicyChecked counts runs whose missed policy check the tick did.
	PolicyChecked int `json:"policy_checked"`
	// Agents is how many agents the claimable work could use now, capped
	// at the pool size: what an autoscaler of agents should run.
	Agents int `json:"agents"`
}

// Add folds a later tick into r: its repairs add up, its Agents (a level,
// not a count) replaces r's.
func (r *Result) Add(later Result) {
	r.Admitted += later.Admitted
	r.Reaped += later.Reaped
	r.Relayed += later.Relayed
	r.PolicyChecked += later.PolicyChecked
	r.Agents = later.Agents
}

// Tick admits pending runs on free, unlocked workspaces.
func Tick(ctx context.Context, db DB) (Result, error) {
	var res Result
	stranded, err := dbsqlc.New(db).WorkspaceListAdmittable(ctx, batch)
	if err != nil {
		return res, fmt.Errorf("tick: list admittable: %w", err)
	}
	for _, w := range stranded {
		var admitted bool
		err := dbtx.Run(ctx, db, func(q *dbsqlc.Queries) error {
			var err error
			admitted, err = run.AdmitNext(ctx, q, w.OrganizationID, w.WorkspaceID, time.Now().UTC())
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			// One workspace's failure must not stop the others' admission.
			slog.ErrorContext(ctx, "tick: admitting failed; the next tick tries again", "workspace", w.WorkspaceID, "err", err)
			continue
		}
		if admitted {
			res.Admitted++
		}
	}
	return res, nil
}
