// Command fanout consumes state_changed events from SQS — bodies of the
// form {"event_id": "<outbox event id>"} — and delivers each one: the
// downstream runs of cross-workspace triggers (docs/architecture.md §6). Delivery is
// idempotent, so SQS's at-least-once redelivery is harmless. A message
// that fails is reported back (partial batch failure) and retried; the
// scheduler tick also delivers anything left undelivered.
package main

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/trigger"
)

func handler(deliver func(context.Context, uuid.UUID) error) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		for _, m := range ev.Records {
			var body trigger.Message
			err := json.Unmarshal([]byte(m.Body), &body)
			if err == nil {
				err = deliver(ctx, body.EventID)
			}
			if err != nil {
				slog.ErrorContext(ctx, "fanout: delivery failed; leaving the message on the queue", "message_id", m.MessageId, "err", err)
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			}
		}
		return resp, nil
	}
}

func main() { lambda.Start(handler(platform.MustOpenFromEnv("fanout").Cascade.Deliver)) }
