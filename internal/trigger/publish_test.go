package trigger_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/runplane/runplane/internal/awstest"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/trigger"
)

// On AWS an applied run's event travels through SQS: the message a real
// SQS-API server hands back names the event, and delivering it — twice, as
// SQS may — queues the downstream run once.
func TestEventsTravelThroughSQS(t *testing.T) {
	t.Parallel()
	servers := awstest.Start(t)
	queueURL := servers.Queue(t)
	f := setupCascade(t, []string{"a", "b"}, [2]string{"a", "b"})
	r, err := f.runs.Create(f.ctx, f.orgID, f.ws["a"], run.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.fire(r.ID, toApplied...)

	f.cascade.PublishRun(f.ctx, trigger.SQS{Client: servers.SQS(), QueueURL: queueURL}, r.ID)

	out, err := servers.SQS().ReceiveMessage(f.ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("%d messages on the queue, want 1", len(out.Messages))
	}
	var m trigger.Message
	if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &m); err != nil {
		t.Fatalf("message %q: %v", aws.ToString(out.Messages[0].Body), err)
	}
	for range 2 {
		if err := f.cascade.Deliver(f.ctx, m.EventID); err != nil {
			t.Fatal(err)
		}
	}
	if l := f.list("b"); len(l) != 1 || !l[0].Triggered {
		t.Fatalf("b's runs after the message: %+v", l)
	}

	// Once delivered, the run has nothing left to publish.
	f.cascade.PublishRun(f.ctx, trigger.SQS{Client: servers.SQS(), QueueURL: queueURL}, r.ID)
	again, err := servers.SQS().ReceiveMessage(f.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), WaitTimeSeconds: 1})
	if err != nil || len(again.Messages) != 0 {
		t.Fatalf("a delivered event was published again: %v %v", again.Messages, err)
	}
}
