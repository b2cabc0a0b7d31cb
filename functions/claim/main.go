// Command claim serves the agent API (/api/agent/v1/...) as its own Lambda
// function, so agents' long-polls get their own concurrency and timeout and
// cannot starve the user API. The handler is the API's; API Gateway routes
// only the agent paths here.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/runplane/runplane/internal/platform"
)

func main() {
	lambda.Start(platform.MustOpenFromEnv("claim", platform.Needs{Database: true, AgentToken: true}).HTTPLambda())
}
