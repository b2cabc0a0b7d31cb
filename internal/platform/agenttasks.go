package platform

import (
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/runplane/runplane/internal/fargate"
)

// AgentTasks is where the tick launches ephemeral agents as ECS tasks on
// AWS. Empty Cluster: the tick launches none (agents are started some
// other way; `runplane server` runs its own).
type AgentTasks struct {
	Cluster, TaskDefinition string
	Subnets, SecurityGroups []string
	PublicIP                bool
	// Endpoint points the ECS client at an ECS-compatible server (tests).
	Endpoint string
}

// agentTasksFromEnv reads RUNPLANE_AGENT_ECS_CLUSTER, …_TASK_DEFINITION,
// …_SUBNETS and …_SECURITY_GROUPS (comma-separated), …_PUBLIC_IP (true to
// give tasks a public address) and RUNPLANE_ECS_ENDPOINT.
func agentTasksFromEnv(getenv func(string) string) AgentTasks {
	list := func(name string) []string {
		var out []string
		for _, v := range strings.Split(getenv(name), ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	return AgentTasks{
		Cluster: getenv("RUNPLANE_AGENT_ECS_CLUSTER"), TaskDefinition: getenv("RUNPLANE_AGENT_ECS_TASK_DEFINITION"),
		Subnets: list("RUNPLANE_AGENT_ECS_SUBNETS"), SecurityGroups: list("RUNPLANE_AGENT_ECS_SECURITY_GROUPS"),
		PublicIP: getenv("RUNPLANE_AGENT_ECS_PUBLIC_IP") == "true", Endpoint: getenv("RUNPLANE_ECS_ENDPOINT"),
	}
}

func (a AgentTasks) check(pool int) error {
	switch {
	case a.Cluster == "":
		return nil
	case a.TaskDefinition == "":
		return errors.New("RUNPLANE_AGENT_ECS_CLUSTER is set without RUNPLANE_AGENT_ECS_TASK_DEFINITION")
	case pool <= 0:
		return errors.New("launching agent tasks (RUNPLANE_AGENT_ECS_CLUSTER) needs RUNPLANE_AGENT_POOL_SIZE: the most tasks alive at once")
	}
	return nil
}

func (a AgentTasks) open(loadAWS func() (aws.Config, error), pool int) (*fargate.Launcher, error) {
	if a.Cluster == "" {
		return nil, nil
	}
	awsCfg, err := loadAWS()
	if err != nil {
		return nil, err
	}
	client := ecs.NewFromConfig(awsCfg, func(o *ecs.Options) {
		if a.Endpoint != "" {
			o.BaseEndpoint = aws.String(a.Endpoint)
		}
	})
	return &fargate.Launcher{
		ECS: client, Cluster: a.Cluster, TaskDefinition: a.TaskDefinition, Subnets: a.Subnets, SecurityGroups: a.SecurityGroups,
		PublicIP: a.PublicIP, Pool: pool,
	}, nil
}
