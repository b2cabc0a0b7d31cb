package fargate

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// ECS is what the launcher needs of the ECS API; *ecs.Client satisfies it.
type ECS interface {
	RunTask(ctx context.Context, in *ecs.RunTaskInput, opts ...func(*ecs.Options)) (*ecs.RunTaskOutput, error)
	ListTasks(ctx context.Context, in *ecs.ListTasksInput, opts ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
}

// StartedBy marks the tasks the launcher started, to count them.
const StartedBy = "runplane-agent"

// Launcher starts agent tasks.
type Launcher struct {
	ECS            ECS
	Cluster        string
	TaskDefinition string
	// Subnets and SecurityGroups place awsvpc tasks (Fargate needs them).
	Subnets, SecurityGroups []string
	// PublicIP gives tasks a public address: in a public subnet without a
	// NAT, the only way to reach the API and the image registry.
	PublicIP bool
	// Pool caps the tasks alive at once.
	Pool int
}

// runTaskMax is the most tasks one RunTask call starts.
const runTaskMax = 10

// Launch starts agents for claimable jobs, given running jobs executing
// now (held by agents of any kind), and returns how many it started.
func (l *Launcher) Launch(ctx context.Context, claimable, running int) (int, error) {
	alive, err := l.alive(ctx)
	if err != nil {
		return 0, err
	}
	// Tasks not holding a job are booting or waiting to claim: each will
	// take one of the claimable jobs.
	waiting := max(0, alive-running)
	n := min(claimable-waiting, l.Pool-alive)
	launched := 0
	var errs []error
	for n > 0 {
		batch := min(n, runTaskMax)
		out, err := l.ECS.RunTask(ctx, l.input(batch))
		if err != nil {
			return launched, fmt.Errorf("ecs run task: %w", err)
		}
		launched += len(out.Tasks)
		for _, f := range out.Failures {
			errs = append(errs, fmt.Errorf("ecs run task: %s: %s", aws.ToString(f.Reason), aws.ToString(f.Detail)))
		}
		if len(out.Tasks) < batch {
			break // capacity or placement refused the rest; the next tick tries again
		}
		n -= batch
	}
	return launched, errors.Join(errs...)
}

// alive counts the tasks the launcher started that have not stopped.
func (l *Launcher) alive(ctx context.Context) (int, error) {
	in := &ecs.ListTasksInput{Cluster: aws.String(l.Cluster), StartedBy: aws.String(StartedBy), DesiredStatus: types.DesiredStatusRunning}
	n := 0
	for {
		out, err := l.ECS.ListTasks(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("ecs list tasks: %w", err)
		}
		n += len(out.TaskArns)
		if out.NextToken == nil {
			return n, nil
		}
		in.NextToken = out.NextToken
	}
}

func (l *Launcher) input(count int) *ecs.RunTaskInput {
	in := &ecs.RunTaskInput{
		Cluster: aws.String(l.Cluster), TaskDefinition: aws.String(l.TaskDefinition), Count: aws.Int32(int32(count)),
		StartedBy: aws.String(StartedBy), LaunchType: types.LaunchTypeFargate,
	}
	if len(l.Subnets) > 0 {
		ip := types.AssignPublicIpDisabled
		if l.PublicIP {
			ip = types.AssignPublicIpEnabled
		}
		in.NetworkConfiguration = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
			Subnets: l.Subnets, SecurityGroups: l.SecurityGroups, AssignPublicIp: ip,
		}}
	}
	return in
}
