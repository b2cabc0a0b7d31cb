// Command runplane-chaos runs many real runs over many workspaces through
// `runplane server` (its embedded PostgreSQL, its agent launcher, the real
// terraform) while injecting faults: agents killed mid-plan and mid-apply,
// zombie agents that come back after their lease, the database stopped and
// started, the server killed -9 and restarted. After every step it checks
// what users rely on: never two runs holding a workspace, no acknowledged
// state version lost or altered, no run stuck, every apply either in the
// state or its workspace locked for verification. `make chaos` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	cfg := Config{}
	flag.DurationVar(&cfg.Duration, "duration", 3*time.Minute, "how long faults are injected")
	flag.IntVar(&cfg.Workspaces, "workspaces", 8, "workspaces runs go to")
	flag.StringVar(&cfg.Binary, "runplane", "", "the runplane binary (default: built from ./cmd/runplane)")
	flag.Int64Var(&cfg.Seed, "seed", time.Now().UnixNano(), "random seed of the fault schedule")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "runplane-chaos:", err)
		os.Exit(1)
	}
	fmt.Print(rep)
	if rep.Violations() > 0 {
		os.Exit(1)
	}
}
