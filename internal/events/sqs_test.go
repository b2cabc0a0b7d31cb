package events_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/testkit/awstest"
)

// On AWS a run's events travel through SQS: Send puts each pending one on
// a real SQS-API server's queue, the message names it, delivering it twice
// (SQS may) handles it once, and a delivered event is not sent again.
func TestEventsTravelThroughSQS(t *testing.T) {
	t.Parallel()
	servers := awstest.Start(t)
	queueURL := servers.Queue(t)
	f := setup(t)
	r, err := run.NewService(f.pool, run.DefaultConfig, nil).Create(f.ctx, f.orgID, f.wsID, run.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := dbtx.Run(f.ctx, f.pool, func(q *dbsqlc.Queries) error {
		return events.Emit(f.ctx, q, kind, f.orgID, f.wsID, &r.ID, nil, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	d := events.NewDispatcher(f.pool, quick, events.SQS{Client: servers.SQS(), QueueURL: queueURL})
	handled := 0
	d.Handle(kind, func(context.Context, *events.Delivery) error { handled++; return nil })

	d.Send(f.ctx, r.ID)
	out, err := servers.SQS().ReceiveMessage(f.ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("%d messages on the queue, want 1", len(out.Messages))
	}
	var m events.Message
	if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &m); err != nil || m.EventID == uuid.Nil {
		t.Fatalf("message %q: %v", aws.ToString(out.Messages[0].Body), err)
	}
	for range 2 {
		if err := d.Deliver(f.ctx, m.EventID); err != nil {
			t.Fatal(err)
		}
	}
	if handled != 1 {
		t.Fatalf("handled %d times, want 1", handled)
	}
	d.Send(f.ctx, r.ID)
	again, err := servers.SQS().ReceiveMessage(f.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), WaitTimeSeconds: 1})
	if err != nil || len(again.Messages) != 0 {
		t.Fatalf("a delivered event was sent again: %v %v", again.Messages, err)
	}
}
