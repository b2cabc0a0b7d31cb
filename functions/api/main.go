// Command api is the Lambda function behind the API Gateway HTTP API: the user
// API of DESIGN §10 served by the same handler as `runplane server`.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/runplane/runplane/internal/platform"
)

func main() {
	p, err := platform.OpenFromEnv(context.Background(), os.Getenv)
	if err != nil {
		slog.Error("api: start", "err", err)
		os.Exit(1)
	}
	lambda.Start(p.HTTPLambda())
}
