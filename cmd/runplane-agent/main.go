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

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := agent.Run(ctx, agent.ConfigFromEnv(os.Getenv)); err != nil {
		fmt.Fprintln(os.Stderr, "runplane-agent:", err)
		os.Exit(1)
	}
}
