package platform

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/agent"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/trigger"
)

// Fanout is the queue that carries state_changed events to the fanout
// function on AWS. Empty QueueURL: no queue; `runplane server` relays in
// process and the scheduler tick delivers what is left.
type Fanout struct {
	QueueURL string
	// Endpoint points the SQS client at an SQS-compatible server (tests).
	Endpoint string
}

// FanoutFromEnv reads the queue settings from the environment.
func FanoutFromEnv(getenv func(string) string) Fanout {
	return Fanout{QueueURL: getenv("RUNPLANE_FANOUT_QUEUE_URL"), Endpoint: getenv("RUNPLANE_SQS_ENDPOINT")}
}

// wire makes every finished job hand its run's events to the queue.
func (f Fanout) wire(loadAWS func() (aws.Config, error), agents *agent.Service, cascade *trigger.Cascade) error {
	if f.QueueURL == "" {
		return nil
	}
	awsCfg, err := loadAWS()
	if err != nil {
		return err
	}
	client := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if f.Endpoint != "" {
			o.BaseEndpoint = aws.String(f.Endpoint)
		}
	})
	queue := trigger.SQS{Client: client, QueueURL: f.QueueURL}
	agents.OnFinished(func(ctx context.Context, _, runID uuid.UUID, status run.Status) {
		if status == run.StatusApplied { // only an apply writes state_changed events
			cascade.PublishRun(ctx, queue, runID)
		}
	})
	return nil
}
