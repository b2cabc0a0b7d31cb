package events

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"
)

// Message is the body of an event queue message.
type Message struct {
	EventID uuid.UUID `json:"event_id"`
}

// SQSClient is the part of the SQS API the queue uses.
type SQSClient interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// SQS is the queue functions/events consumes on AWS.
type SQS struct {
	Client   SQSClient
	QueueURL string
}

// Send puts one event's message on the queue.
func (q SQS) Send(ctx context.Context, eventID uuid.UUID) error {
	body, err := json.Marshal(Message{EventID: eventID})
	if err != nil {
		return err
	}
	if _, err := q.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.QueueURL), MessageBody: aws.String(string(body))}); err != nil {
		return fmt.Errorf("sqs: send event %s: %w", eventID, err)
	}
	return nil
}
