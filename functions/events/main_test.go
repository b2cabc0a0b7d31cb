package main

import (
	"context"
	"errors"
	"testing"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"
)

// Each message is delivered on its own; malformed ones and failed
// deliveries are reported back so SQS keeps them, the rest are acknowledged.
func TestFailuresStayOnTheQueue(t *testing.T) {
	good, bad := uuid.New(), uuid.New()
	var delivered []uuid.UUID
	deliver := func(_ context.Context, id uuid.UUID) error {
		if id == bad {
			return errors.New("database unavailable")
		}
		delivered = append(delivered, id)
		return nil
	}
	ev := awsevents.SQSEvent{Records: []awsevents.SQSMessage{
		{MessageId: "m1", Body: `{"event_id":"` + good.String() + `"}`},
		{MessageId: "m2", Body: `not json`},
		{MessageId: "m3", Body: `{"event_id":"` + bad.String() + `"}`},
	}}
	resp, err := handler(deliver)(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 2 ||
		resp.BatchItemFailures[0].ItemIdentifier != "m2" || resp.BatchItemFailures[1].ItemIdentifier != "m3" {
		t.Fatalf("%+v %v", resp, err)
	}
	if len(delivered) != 1 || delivered[0] != good {
		t.Fatalf("delivered %v", delivered)
	}
}
