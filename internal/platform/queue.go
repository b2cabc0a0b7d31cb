package platform

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/runplane/runplane/internal/events"
)

// EventQueue is the SQS queue that carries events to the events function
// on AWS. Empty URL: no queue; the process delivers its events itself and
// the scheduler tick delivers what is left.
type EventQueue struct {
	URL string
	// Endpoint points the SQS client at an SQS-compatible server (tests).
	Endpoint string
}

func (e EventQueue) open(loadAWS func() (aws.Config, error)) (events.Queue, error) {
	if e.URL == "" {
		return nil, nil
	}
	awsCfg, err := loadAWS()
	if err != nil {
		return nil, err
	}
	client := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if e.Endpoint != "" {
			o.BaseEndpoint = aws.String(e.Endpoint)
		}
	})
	return events.SQS{Client: client, QueueURL: e.URL}, nil
}
