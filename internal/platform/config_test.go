package platform

import (
	"strings"
	"testing"
	"time"

	"github.com/runplane/runplane/internal/jobs"
)

func env(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

// A deployment with a mistyped pool size or tick count must not start on a
// silent default.
func TestFromEnvRefusesMalformedNumbers(t *testing.T) {
	t.Parallel()
	for value, want := range map[string]int{"": 7, "0": 0, "40": 40} {
		c, err := FromEnv(env(map[string]string{"RUNPLANE_AGENT_POOL_SIZE": value}), Defaults{PoolSize: 7, Tick: time.Second})
		if err != nil || c.AgentPoolSize != want {
			t.Errorf("pool %q: %d, %v; want %d", value, c.AgentPoolSize, err, want)
		}
	}
	for _, bad := range []map[string]string{
		{"RUNPLANE_AGENT_POOL_SIZE": "-1"}, {"RUNPLANE_AGENT_POOL_SIZE": "forty"}, {"RUNPLANE_AGENT_POOL_SIZE": "4.5"},
		{"RUNPLANE_TICKS_PER_INVOCATION": "0"}, {"RUNPLANE_TICKS_PER_INVOCATION": "six"},
	} {
		if _, err := FromEnv(env(bad), ServerDefaults); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// The server and every function read the protocol's timings the same way:
// a function that ignored RUNPLANE_AGENT_LEASE would reap the agents the
// server configured for longer leases.
func TestFromEnvReadsTheAgentTimings(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(nil), FunctionDefaults)
	if err != nil || c.Agent.Lease != jobs.DefaultConfig.Lease || c.Agent.Heartbeat != jobs.DefaultConfig.Heartbeat ||
		c.Agent.Tick != 10*time.Second || c.TicksPerInvocation != 6 || c.AgentPoolSize != 0 {
		t.Fatalf("function defaults: %+v, %v", c, err)
	}
	if c, err := FromEnv(env(nil), ServerDefaults); err != nil || c.Agent.Tick != 5*time.Second || c.AgentPoolSize != 4 {
		t.Fatalf("server defaults: %+v, %v", c, err)
	}
	c, err = FromEnv(env(map[string]string{"RUNPLANE_AGENT_LEASE": "2m", "RUNPLANE_AGENT_HEARTBEAT": "30s", "RUNPLANE_TICK_INTERVAL": "3s"}), FunctionDefaults)
	if err != nil || c.Agent.Lease != 2*time.Minute || c.Agent.Heartbeat != 30*time.Second || c.Agent.Tick != 3*time.Second {
		t.Fatalf("overrides: %+v, %v", c, err)
	}
	for _, bad := range []map[string]string{
		{"RUNPLANE_AGENT_LEASE": "soon"},
		{"RUNPLANE_TICK_INTERVAL": "-5s"},
		{"RUNPLANE_AGENT_LEASE": "10s", "RUNPLANE_AGENT_HEARTBEAT": "10s"},
	} {
		if _, err := FromEnv(env(bad), FunctionDefaults); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// Each process requires the secrets it uses and only those: the scheduler
// and events functions start without the site-admin or agent token.
func TestRequireNamesWhatIsMissing(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(map[string]string{"DATABASE_URL": "postgres://x"}), FunctionDefaults)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Require(Needs{Database: true}); err != nil {
		t.Fatalf("database only: %v", err)
	}
	err = c.Require(Needs{Database: true, AdminToken: true, AgentToken: true})
	if err == nil || !strings.Contains(err.Error(), "RUNPLANE_ADMIN_TOKEN") || !strings.Contains(err.Error(), "RUNPLANE_AGENT_TOKEN") {
		t.Fatalf("missing tokens: %v", err)
	}
	if err := (Config{}).Require(Needs{Database: true}); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("missing database: %v", err)
	}
}

// Agent tasks are launched only from a whole configuration: a cluster
// needs its task definition and a pool that bounds it, and the lists are
// read comma-separated.
func TestFromEnvReadsAgentTasks(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(map[string]string{
		"RUNPLANE_AGENT_ECS_CLUSTER": "agents", "RUNPLANE_AGENT_ECS_TASK_DEFINITION": "agent:3", "RUNPLANE_AGENT_POOL_SIZE": "20",
		"RUNPLANE_AGENT_ECS_SUBNETS": "subnet-a, subnet-b", "RUNPLANE_AGENT_ECS_SECURITY_GROUPS": "sg-1", "RUNPLANE_AGENT_ECS_PUBLIC_IP": "true",
	}), FunctionDefaults)
	if err != nil || c.AgentTasks.Cluster != "agents" || strings.Join(c.AgentTasks.Subnets, "|") != "subnet-a|subnet-b" || !c.AgentTasks.PublicIP {
		t.Fatalf("%+v, %v", c.AgentTasks, err)
	}
	for want, vars := range map[string]map[string]string{
		"RUNPLANE_AGENT_ECS_TASK_DEFINITION": {"RUNPLANE_AGENT_ECS_CLUSTER": "agents", "RUNPLANE_AGENT_POOL_SIZE": "20"},
		"RUNPLANE_AGENT_POOL_SIZE":           {"RUNPLANE_AGENT_ECS_CLUSTER": "agents", "RUNPLANE_AGENT_ECS_TASK_DEFINITION": "agent:3"},
	} {
		if _, err := FromEnv(env(vars), FunctionDefaults); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want an error naming %s", vars, err, want)
		}
	}
}

// A function instance serves one request at a time and keeps two database
// connections unless told otherwise; hundreds of instances must not hold
// thousands of CockroachDB connections.
func TestFunctionsKeepFewDatabaseConnections(t *testing.T) {
	t.Parallel()
	for vars, want := range map[string]int32{"": 2, "8": 8} {
		c, err := FromEnv(env(map[string]string{"RUNPLANE_DB_MAX_CONNS": vars}), FunctionDefaults)
		if err != nil || c.MaxConns != want {
			t.Errorf("RUNPLANE_DB_MAX_CONNS=%q: %d, %v; want %d", vars, c.MaxConns, err, want)
		}
	}
	if c, err := FromEnv(env(nil), ServerDefaults); err != nil || c.MaxConns != 0 {
		t.Errorf("the server's default: %d, %v; want 0 (it sizes its own pool)", c.MaxConns, err)
	}
}
