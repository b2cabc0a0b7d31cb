// Command runplane-agent claims one job from a Runplane server, runs the
// real terraform for it and exits: the ephemeral, one-per-run agent.
// Settings come from the environment: RUNPLANE_URL, RUNPLANE_AGENT_TOKEN,
// RUNPLANE_TERRAFORM (default terraform on PATH), RUNPLANE_AGENT_NAME,
// RUNPLANE_AGENT_CLAIM_WAIT (how long to wait for a job, default 1m),
// RUNPLANE_AGENT_SANDBOX (bwrap, the default, or off),
// RUNPLANE_AGENT_SANDBOX_BIND and RUNPLANE_AGENT_PERMIT_FD (set by a
// launcher that boots agents ahead of need: a descriptor to read one byte
// from before claiming). SIGTERM interrupts terraform so that it saves
// state, then the agent reports and exits.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/runplane/runplane/internal/agent"
)

const usage = `usage: runplane-agent

Claims one job from a Runplane server, runs terraform for it and exits.
Configured by the environment:
  RUNPLANE_URL               the server's URL (required)
  RUNPLANE_AGENT_TOKEN       the agents' token (required)
  RUNPLANE_TERRAFORM         the terraform binary (default: terraform on PATH)
  RUNPLANE_AGENT_NAME        the name jobs record (default: host/pid)
  RUNPLANE_AGENT_CLAIM_WAIT  how long to wait for a job (default 1m)
  RUNPLANE_AGENT_SANDBOX     bwrap (default) or off (docs/security.md)
  RUNPLANE_AGENT_SANDBOX_BIND  extra folders terraform may use, colon-separated
  RUNPLANE_AGENT_CA_FILE     a PEM certificate terraform trusts besides the system's
`

func main() {
	if len(os.Args) == 2 && os.Args[1] == agent.StateProxyCommand {
		if err := agent.ServeStateProxy(); err != nil {
			fmt.Fprintln(os.Stderr, "runplane-agent state proxy:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 {
		fmt.Fprint(os.Stderr, usage)
		if a := os.Args[1]; a == "-h" || a == "-help" || a == "--help" || a == "help" {
			os.Exit(0)
		}
		os.Exit(2)
	}
	cfg := agent.ConfigFromEnv(os.Getenv)
	if err := cfg.Check(); err != nil {
		fmt.Fprintf(os.Stderr, "runplane-agent: %v\n\n%s", err, usage)
		os.Exit(2)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := agent.Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "runplane-agent:", err)
		os.Exit(1)
	}
}
