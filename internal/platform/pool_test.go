package platform

import (
	"testing"
	"time"

	"github.com/runplane/runplane/internal/agent"
)

// A deployment with a mistyped pool size must not start with no cap.
func TestPoolSizeFromEnv(t *testing.T) {
	t.Parallel()
	for value, want := range map[string]int{"": 7, "0": 0, "40": 40} {
		got, err := PoolSizeFromEnv(func(string) string { return value }, 7)
		if err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", value, got, err, want)
		}
	}
	for _, value := range []string{"-1", "forty", "4.5"} {
		if _, err := PoolSizeFromEnv(func(string) string { return value }, 7); err == nil {
			t.Errorf("%q accepted", value)
		}
	}
}

// The server and every function read the protocol's timings the same way:
// a function that ignored RUNPLANE_AGENT_LEASE would reap the agents the
// server configured for longer leases.
func TestAgentConfigFromEnv(t *testing.T) {
	t.Parallel()
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	c, err := AgentConfigFromEnv(env(nil), 10*time.Second)
	if err != nil || c.Lease != agent.DefaultConfig.Lease || c.Heartbeat != agent.DefaultConfig.Heartbeat || c.Tick != 10*time.Second {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	c, err = AgentConfigFromEnv(env(map[string]string{"RUNPLANE_AGENT_LEASE": "2m", "RUNPLANE_AGENT_HEARTBEAT": "30s", "RUNPLANE_TICK_INTERVAL": "3s"}), 10*time.Second)
	if err != nil || c.Lease != 2*time.Minute || c.Heartbeat != 30*time.Second || c.Tick != 3*time.Second {
		t.Fatalf("overrides: %+v, %v", c, err)
	}
	for _, bad := range []map[string]string{
		{"RUNPLANE_AGENT_LEASE": "soon"},
		{"RUNPLANE_TICK_INTERVAL": "-5s"},
		{"RUNPLANE_AGENT_LEASE": "10s", "RUNPLANE_AGENT_HEARTBEAT": "10s"},
	} {
		if _, err := AgentConfigFromEnv(env(bad), time.Second); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
