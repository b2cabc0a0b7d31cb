// Command scheduler is the scheduled tick (internal/schedule): it reaps
// expired agent leases, delivers due events, admits what a lost event left
// pending and counts the agents the waiting work could use. EventBridge
// cannot fire more often than once a minute, so one invocation ticks
// several times (RUNPLANE_TICKS_PER_INVOCATION, default 6)
// RUNPLANE_TICK_INTERVAL apart (default 10s): a lost agent is noticed
// within its lease plus 10 s, not a minute. Any number of instances may
// run at once. The invocation's result is returned and logged whole.
package main

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/schedule"
)

func handler(s *schedule.Scheduler, ticks int, every time.Duration) func(context.Context, events.EventBridgeEvent) (schedule.Result, error) {
	return func(ctx context.Context, _ events.EventBridgeEvent) (schedule.Result, error) {
		return s.Invoke(ctx, ticks, every)
	}
}

func main() {
	p := platform.MustOpenFromEnv("scheduler", platform.Needs{Database: true})
	lambda.Start(handler(p.Scheduler, p.Config().TicksPerInvocation, p.Config().Agent.Tick))
}
