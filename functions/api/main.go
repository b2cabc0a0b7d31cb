// Command api is the Lambda function behind the API Gateway HTTP API: the user
// API of docs/architecture.md and README served by the same handler as `runplane server`.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/runplane/runplane/internal/platform"
)

func main() { lambda.Start(platform.MustOpenFromEnv("api").HTTPLambda()) }
