// Command fanout consumes state-changed events from SQS and creates the
// downstream runs of cross-workspace triggers (DESIGN §6, issue 6). Until a
// consumer for an event type exists, its messages are reported as failed, so
// SQS keeps them (and finally moves them to the dead-letter queue) instead of
// dropping them.
package main

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		var head struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal([]byte(m.Body), &head)
		slog.WarnContext(ctx, "fanout: no consumer for event type; leaving it on the queue", "type", head.Type, "message_id", m.MessageId)
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
	}
	return resp, nil
}

func main() { lambda.Start(handle) }
