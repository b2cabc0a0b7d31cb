package platform

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/jobs"
)

// Config is what a platform is opened with. `runplane server` and every
// function read it from the environment with FromEnv; only the defaults
// differ, and a process requires only the secrets it uses (Require).
type Config struct {
	DatabaseURL string
	// AdminToken is the site-admin token; empty: no site admin.
	AdminToken string
	// AgentToken is the secret agents claim jobs with; empty turns the agent API off.
	AgentToken string
	Storage    Storage
	// Agent holds the protocol's timings; zero takes jobs.DefaultConfig.
	Agent jobs.Config
	// AgentPoolSize caps the agents a tick asks for (0: no cap).
	AgentPoolSize int
	// TicksPerInvocation is how many ticks one scheduler function
	// invocation runs, Agent.Tick apart.
	TicksPerInvocation int
	// NoClaimHint leaves long-polling claims to their database poll, as on
	// AWS where no in-process hint crosses Lambda instances (benchmarks).
	NoClaimHint bool
	// EventQueue carries events to the events function on AWS; empty: the
	// process delivers them itself.
	EventQueue EventQueue
	// AgentTasks is where the tick launches agents on AWS; empty: nowhere.
	AgentTasks AgentTasks
	// Events bounds event delivery; zero takes events.DefaultConfig.
	Events events.Config
	// MaxConns sizes the database pool when DATABASE_URL does not
	// (pool_max_conns); 0 keeps pgx's default, the larger of 4 and the
	// CPU count.
	MaxConns int32
	// WorkloadIdentityAudience is the audience of runs' workload identity
	// tokens (RUNPLANE_WORKLOAD_IDENTITY_AUDIENCE); empty takes
	// identity.DefaultAudience.
	WorkloadIdentityAudience string
	// WorkspaceRetention is how long a deleted workspace stays restorable
	// (RUNPLANE_WORKSPACE_RETENTION); 0 takes workspace.DefaultRetention.
	WorkspaceRetention time.Duration
}

// Defaults are what FromEnv takes for unset variables.
type Defaults struct {
	// PoolSize is RUNPLANE_AGENT_POOL_SIZE's default.
	PoolSize int
	// Tick is RUNPLANE_TICK_INTERVAL's default.
	Tick time.Duration
	// MaxConns is RUNPLANE_DB_MAX_CONNS's default (0: pgx's).
	MaxConns int
}

var (
	// ServerDefaults: `runplane server` runs four agents and ticks every 5 s.
	ServerDefaults = Defaults{PoolSize: 4, Tick: 5 * time.Second}
	// FunctionDefaults: on AWS the pool is uncapped unless set, the
	// scheduler function ticks every 10 s (EventBridge fires once a
	// minute), and an instance, which serves one request at a time, keeps
	// two database connections: hundreds of instances must not hold
	// thousands.
	FunctionDefaults = Defaults{PoolSize: 0, Tick: 10 * time.Second, MaxConns: 2}
)

// FromEnv reads the configuration: DATABASE_URL, RUNPLANE_ADMIN_TOKEN,
// RUNPLANE_AGENT_TOKEN, the storage settings (StorageFromEnv), the event
// queue, RUNPLANE_AGENT_POOL_SIZE, the agent timings and
// RUNPLANE_TICKS_PER_INVOCATION. A malformed value is an error, never a
// silent default.
func FromEnv(getenv func(string) string, d Defaults) (Config, error) {
	c := Config{
		DatabaseURL: getenv("DATABASE_URL"),
		AdminToken:  getenv("RUNPLANE_ADMIN_TOKEN"), AgentToken: getenv("RUNPLANE_AGENT_TOKEN"),
		Storage:                  StorageFromEnv(getenv),
		EventQueue:               EventQueue{URL: getenv("RUNPLANE_EVENTS_QUEUE_URL"), Endpoint: getenv("RUNPLANE_SQS_ENDPOINT")},
		Events:                   events.DefaultConfig,
		AgentTasks:               agentTasksFromEnv(getenv),
		WorkloadIdentityAudience: getenv("RUNPLANE_WORKLOAD_IDENTITY_AUDIENCE"),
	}
	var err error
	if c.AgentPoolSize, err = wholeNumber(getenv, "RUNPLANE_AGENT_POOL_SIZE", d.PoolSize, 0); err != nil {
		return c, err
	}
	if c.TicksPerInvocation, err = wholeNumber(getenv, "RUNPLANE_TICKS_PER_INVOCATION", 6, 1); err != nil {
		return c, err
	}
	maxConns, err := wholeNumber(getenv, "RUNPLANE_DB_MAX_CONNS", d.MaxConns, 0)
	if err != nil {
		return c, err
	}
	c.MaxConns = int32(maxConns)
	if c.Agent, err = agentConfig(getenv, d.Tick); err != nil {
		return c, err
	}
	if v := getenv("RUNPLANE_WORKSPACE_RETENTION"); v != "" {
		if c.WorkspaceRetention, err = time.ParseDuration(v); err != nil || c.WorkspaceRetention <= 0 {
			return c, fmt.Errorf("RUNPLANE_WORKSPACE_RETENTION must be a positive duration such as 720h, not %q", v)
		}
	}
	return c, c.AgentTasks.check(c.AgentPoolSize)
}

// Needs names the secrets a process uses.
type Needs struct {
	Database, AdminToken, AgentToken bool
}

// Require fails when a secret the process uses is unset: a function must
// not start half-configured and fail on its first request.
func (c Config) Require(n Needs) error {
	var missing []error
	if n.Database && c.DatabaseURL == "" {
		missing = append(missing, errors.New("DATABASE_URL is empty"))
	}
	if n.AdminToken && c.AdminToken == "" {
		missing = append(missing, errors.New("RUNPLANE_ADMIN_TOKEN is empty"))
	}
	if n.AgentToken && c.AgentToken == "" {
		missing = append(missing, errors.New("RUNPLANE_AGENT_TOKEN is empty"))
	}
	return errors.Join(missing...)
}

func wholeNumber(getenv func(string) string, name string, def, least int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		return 0, fmt.Errorf("%s must be a whole number ≥ %d, not %q", name, least, v)
	}
	return n, nil
}

// agentConfig is the agent protocol's timings, the same for the server
// and every function: RUNPLANE_AGENT_LEASE, RUNPLANE_AGENT_HEARTBEAT and
// RUNPLANE_TICK_INTERVAL (defaultTick when unset), each a positive
// duration, the heartbeat shorter than the lease.
func agentConfig(getenv func(string) string, defaultTick time.Duration) (jobs.Config, error) {
	c := jobs.DefaultConfig
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
