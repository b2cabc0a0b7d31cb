package platform

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// HTTPLambda serves the API's http.Handler to API Gateway HTTP API (payload
// v2) events: the same handler `runplane server` serves.
func (p *Platform) HTTPLambda() func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return httpadapter.NewV2(p.Handler).ProxyWithContext
}

// MustOpenFromEnv is the start of every Lambda function: open the platform
// from the process environment or log why not and exit, so Lambda reports
// the failed init.
func MustOpenFromEnv(function string) *Platform {
	p, err := OpenFromEnv(context.Background(), os.Getenv)
	if err != nil {
		slog.Error(function+": start", "err", err)
		os.Exit(1)
	}
	return p
}

// OpenFromEnv opens the platform from the environment a Lambda function gets.
func OpenFromEnv(ctx context.Context, getenv func(string) string) (*Platform, error) {
	pool, err := PoolSizeFromEnv(getenv, 0)
	if err != nil {
		return nil, err
	}
	// The scheduler function ticks every RUNPLANE_TICK_INTERVAL, 10 s by
	// default; leases are credited only for gaps well beyond it.
	agents, err := AgentConfigFromEnv(getenv, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return Open(ctx, Config{
		AgentPoolSize: pool, Agent: agents,
		DatabaseURL: getenv("DATABASE_URL"), AdminToken: getenv("RUNPLANE_ADMIN_TOKEN"),
		AgentToken: getenv("RUNPLANE_AGENT_TOKEN"), Storage: StorageFromEnv(getenv), Fanout: FanoutFromEnv(getenv),
	})
}
