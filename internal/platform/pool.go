package platform

import (
	"fmt"
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
