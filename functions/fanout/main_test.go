package main

import (
	"context"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// Messages nobody consumes yet must stay on the queue, never be acknowledged.
func TestUnknownEventsAreReportedAsFailures(t *testing.T) {
	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: `{"type":"state_changed"}`},
		{MessageId: "m2", Body: `not json`},
	}}
	resp, err := handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 2 ||
		resp.BatchItemFailures[0].ItemIdentifier != "m1" || resp.BatchItemFailures[1].ItemIdentifier != "m2" {
		t.Fatalf("%+v %v", resp, err)
	}
}
