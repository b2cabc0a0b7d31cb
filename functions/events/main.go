// Command events is the event log's deliverer on AWS: it consumes the
// events queue — bodies of the form {"event_id": "<event id>"}, sent once
// the transaction that wrote the event committed — and delivers each event
// to its handler (internal/events): a plan's policy check, an apply's
// trigger fan-out. Delivery is idempotent, so SQS's at-least-once
// redelivery is harmless. A message that fails is reported back (partial
// batch failure); the event's own retries and dead-lettering are kept in
// the database, and the scheduler tick delivers whatever is due.
package main

import (
	"context"
	"encoding/json"
	"log/slog"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/platform"
)

func handler(deliver func(context.Context, uuid.UUID) error) func(context.Context, awsevents.SQSEvent) (awsevents.SQSEventResponse, error) {
	return func(ctx context.Context, ev awsevents.SQSEvent) (awsevents.SQSEventResponse, error) {
		var resp awsevents.SQSEventResponse
		for _, m := range ev.Records {
			var body events.Message
			err := json.Unmarshal([]byte(m.Body), &body)
			if err == nil {
				err = deliver(ctx, body.EventID)
			}
			if err != nil {
				slog.ErrorContext(ctx, "delivery failed; leaving the message on the queue", "message_id", m.MessageId, "err", err)
				resp.BatchItemFailures = append(resp.BatchItemFailures, awsevents.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			}
		}
		return resp, nil
	}
}

func main() {
	lambda.Start(handler(platform.MustOpenFromEnv("events", platform.Needs{Database: true}).Events.Deliver))
}
