// Command scheduler is the scheduled tick: it repairs what lost events left
// behind (DESIGN §4). Any number of instances may run at once.
package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/schedule"
)

func handler(p *platform.Platform) func(context.Context, events.EventBridgeEvent) (schedule.Result, error) {
	return func(ctx context.Context, _ events.EventBridgeEvent) (schedule.Result, error) {
		res, err := p.Tick(ctx)
		if err != nil {
			slog.ErrorContext(ctx, "tick failed", "err", err)
		}
		return res, err
	}
}

func main() { lambda.Start(handler(platform.MustOpenFromEnv("scheduler"))) }
