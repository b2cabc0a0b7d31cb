package platform

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// HTTPLambda serves the API's http.Handler to API Gateway HTTP API (payload
// v2) events: the same handler `runplane server` serves.
func (p *Platform) HTTPLambda() func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return httpadapter.NewV2(p.Handler).ProxyWithContext
}

// MustOpenFromEnv is the start of every Lambda function: log as JSON, open
// the platform from the process environment with the secrets the function
// needs, or log why not and exit, so Lambda reports the failed init.
func MustOpenFromEnv(function string, needs Needs) *Platform {
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", function))
	p, err := OpenFromEnv(context.Background(), os.Getenv, needs)
	if err != nil {
		slog.Error("start", "err", err)
		os.Exit(1)
	}
	return p
}

// OpenFromEnv opens the platform from the environment a Lambda function
// gets, its secrets read from Secrets Manager where it names them by ARN.
func OpenFromEnv(ctx context.Context, getenv func(string) string, needs Needs) (*Platform, error) {
	loadAWS := awsConfig(ctx)
	getenv, err := withSecrets(ctx, getenv, loadAWS)
	if err != nil {
		return nil, err
	}
	c, err := FromEnv(getenv, FunctionDefaults)
	if err == nil {
		err = c.Require(needs)
	}
	if err != nil {
		return nil, err
	}
	return open(ctx, c, loadAWS)
}
