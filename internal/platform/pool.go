package platform

import (
	"time"

	"fmt"
	"github.com/runplane/runplane/internal/agent"
	"strconv"
)

// PoolSizeFromEnv reads RUNPLANE_AGENT_POOL_SIZE, the agents a deployment
// may run at once; def when unset.
func PoolSizeFromEnv(getenv func(string) string, def int) (int, error) {
	v := getenv("RUNPLANE_AGENT_POOL_SIZE")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("RUNPLANE_AGENT_POOL_SIZE must be a whole number ≥ 0, not %q", v)
	}
	return n, nil
}

// AgentConfigFromEnv is the agent protocol's timings, the same for the
// server and every function: RUNPLANE_AGENT_LEASE, RUNPLANE_AGENT_HEARTBEAT
// and RUNPLANE_TICK_INTERVAL (defaultTick when unset), each a positive
// duration, the heartbeat shorter than the lease.
func AgentConfigFromEnv(getenv func(string) string, defaultTick time.Duration) (agent.Config, error) {
	c := agent.DefaultConfig
	c.Tick = defaultTick
	for _, v := range []struct {
		name string
		dst  *time.Duration
	}{{"RUNPLANE_AGENT_LEASE", &c.Lease}, {"RUNPLANE_AGENT_HEARTBEAT", &c.Heartbeat}, {"RUNPLANE_TICK_INTERVAL", &c.Tick}} {
		if s := getenv(v.name); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return c, fmt.Errorf("%s must be a positive duration such as 20s", v.name)
			}
			*v.dst = d
		}
	}
	if c.Heartbeat >= c.Lease {
		return c, fmt.Errorf("RUNPLANE_AGENT_HEARTBEAT (%s) must be shorter than RUNPLANE_AGENT_LEASE (%s)", c.Heartbeat, c.Lease)
	}
	return c, nil
}
