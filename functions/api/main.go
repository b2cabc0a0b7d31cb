// Command api is the Lambda function behind the API Gateway HTTP API: the user
// API of docs/architecture.md and README served by the same handler as `runplane server`.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/runplane/runplane/internal/platform"
)

// needs: the site-admin token, not the agents' (agent paths go to the
// claim function).
var needs = platform.Needs{Database: true, AdminToken: true}

func main() { lambda.Start(platform.MustOpenFromEnv("api", needs).HTTPLambda()) }
