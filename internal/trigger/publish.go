package trigger

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/dbsqlc"
)

// Message is the body of a fan-out queue message: the outbox event to deliver.
type Message struct {
	EventID uuid.UUID `json:"event_id"`
}

// Publisher hands a state_changed event to the fan-out queue.
type Publisher interface {
	Publish(ctx context.Context, eventID uuid.UUID) error
}

// SQSClient is the part of the SQS API the publisher uses.
type SQSClient interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// SQS publishes events to the queue functions/fanout consumes.
type SQS struct {
	Client   SQSClient
	QueueURL string
}

// Publish sends one event's message.
func (q SQS) Publish(ctx context.Context, eventID uuid.UUID) error {
	body, err := json.Marshal(Message{EventID: eventID})
	if err != nil {
		return err
	}
	if _, err := q.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.QueueURL), MessageBody: aws.String(string(body))}); err != nil {
		return fmt.Errorf("sqs: send event %s: %w", eventID, err)
	}
	return nil
}

// PublishRun hands a run's undelivered events to p, once the transaction
// that wrote them committed. A failure is logged, not returned: the run's
// outcome stands, and the scheduler tick delivers whatever never reached
// the queue.
func (c *Cascade) PublishRun(ctx context.Context, p Publisher, runID uuid.UUID) {
	ids, err := dbsqlc.New(c.db).OutboxListUndeliveredByRun(ctx, runID)
	for _, id := range ids {
		if err = p.Publish(ctx, id); err != nil {
			break
		}
	}
	if err != nil {
		slog.ErrorContext(ctx, "publishing state_changed events; the tick will deliver them", "run", runID, "err", err)
	}
}
