package platform

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// HTTPLambda serves the API's http.Handler to API Gateway HTTP API (payload
// v2) events: the same handler `runplane server` serves.
func (p *Platform) HTTPLambda() func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return httpadapter.NewV2(p.Handler).ProxyWithContext
}

// OpenFromEnv opens the platform from the environment a Lambda function gets.
func OpenFromEnv(ctx context.Context, getenv func(string) string) (*Platform, error) {
	return Open(ctx, getenv("DATABASE_URL"), getenv("RUNPLANE_ADMIN_TOKEN"))
}
