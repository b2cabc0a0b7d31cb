// Command scheduler is the scheduled tick: it reaps expired agent leases and
// repairs what lost events left behind (docs/architecture.md, the tick). EventBridge cannot fire
// more often than once a minute, so one invocation ticks several times
// (RUNPLANE_TICKS_PER_INVOCATION, default 6) RUNPLANE_TICK_INTERVAL apart
// (default 10s): a lost agent is noticed within its lease plus 10 s, not a
// minute. Any number of instances may run at once.
package main

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/schedule"
)

func handler(p *platform.Platform, ticks int, every time.Duration) func(context.Context, events.EventBridgeEvent) (schedule.Result, error) {
	return func(ctx context.Context, _ events.EventBridgeEvent) (schedule.Result, error) {
		var total schedule.Result
		for i := range ticks {
			if i > 0 {
				// Stop early rather than be cut off by the function timeout.
				if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < every+5*time.Second {
					break
				}
				select {
				case <-ctx.Done():
					return total, ctx.Err()
				case <-time.After(every):
				}
			}
			res, err := p.Tick(ctx)
			total.Add(res)
			if err != nil {
				slog.ErrorContext(ctx, "tick failed", "err", err)
				return total, err
			}
		}
		slog.InfoContext(ctx, "ticked", "admitted", total.Admitted, "reaped", total.Reaped, "relayed", total.Relayed,
			"policy_checked", total.PolicyChecked, "agents", total.Agents)
		return total, nil
	}
}

func main() {
	ticks, err := strconv.Atoi(envOr("RUNPLANE_TICKS_PER_INVOCATION", "6"))
	if err != nil || ticks < 1 {
		slog.Error("RUNPLANE_TICKS_PER_INVOCATION must be a whole number ≥ 1")
		os.Exit(1)
	}
	p := platform.MustOpenFromEnv("scheduler")
	lambda.Start(handler(p, ticks, p.Agents.Config().Tick))
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
