package fargate_test

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/runplane/runplane/internal/fargate"
	"github.com/runplane/runplane/internal/testkit/awstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	awstest.Stop()
	os.Exit(code)
}

// setup is a launcher with a pool of pool tasks in a cluster of the test's
// own on moto's ECS, and a count of the tasks alive there.
func setup(t *testing.T, pool int) (*fargate.Launcher, func() int) {
	t.Helper()
	srv := awstest.Start(t)
	cluster, taskDef := srv.TaskDefinition(t)
	subnet, sg := srv.DefaultNetwork(t)
	l := &fargate.Launcher{ECS: srv.ECS(), Cluster: cluster, TaskDefinition: taskDef, Subnets: []string{subnet}, SecurityGroups: []string{sg}, Pool: pool}
	alive := func() int {
		out, err := srv.ECS().ListTasks(context.Background(), &ecs.ListTasksInput{Cluster: aws.String(cluster), StartedBy: aws.String(fargate.StartedBy)})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.TaskArns)
	}
	return l, alive
}

// The launch arithmetic against a real ECS API: one task per claimable
// job, none for jobs a task already starting will take, none beyond the
// pool, and none when every task is busy and the pool full.
func TestLaunchesOneTaskPerClaimableJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, alive := setup(t, 5)
	steps := []struct {
		name               string
		claimable, running int
		launched, alive    int
	}{
		{"three jobs wait", 3, 0, 3, 3},
		{"the same three, their tasks still starting", 3, 0, 0, 3},
		{"two more jobs", 5, 0, 2, 5},
		{"ten jobs, the pool full", 10, 0, 0, 5},
		{"every task busy, the pool full", 4, 5, 0, 5},
	}
	for _, s := range steps {
		n, err := l.Launch(ctx, s.claimable, s.running)
		if err != nil || n != s.launched || alive() != s.alive {
			t.Fatalf("%s: launched %d (%v), %d alive; want %d launched, %d alive", s.name, n, err, alive(), s.launched, s.alive)
		}
	}
}

// A launch that fails starts nothing and loses nothing: the job is still
// claimable, and the next launch starts its task.
func TestAFailedLaunchIsRetriedByTheNextTick(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, alive := setup(t, 5)
	good := l.TaskDefinition
	l.TaskDefinition = "no-such-task-definition"
	if n, err := l.Launch(ctx, 2, 0); err == nil || n != 0 || alive() != 0 {
		t.Fatalf("a launch with no task definition: launched %d, %v, %d alive", n, err, alive())
	}
	l.TaskDefinition = good
	if n, err := l.Launch(ctx, 2, 0); err != nil || n != 2 || alive() != 2 {
		t.Fatalf("the next launch: launched %d, %v, %d alive", n, err, alive())
	}
}
