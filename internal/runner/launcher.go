package runner

import (
	"context"
	"log/slog"
	"os/exec"
	"sync"
	"time"
)

// Launcher is the embedded stand-in for per-run ephemeral compute: it starts
// one agent process per claimable job, never more than Pool at once. Each
// agent claims a job (not necessarily the one that triggered its start),
// runs it and exits.
type Launcher struct {
	Pool int
	// Claimable counts jobs waiting for an agent, up to max.
	Claimable func(ctx context.Context, max int) (int, error)
	// Command makes a new agent process.
	Command func() *exec.Cmd

	mu      sync.Mutex
	running int
	started []time.Time
}

// launchEvery is how often the launcher looks for claimable work. Starting
// a process costs more than this, so no wake-up hint is needed.
const launchEvery = 200 * time.Millisecond

// claimGrace is how long a new agent is assumed to be claiming a job the
// count still shows, so one queued job does not start several agents.
const claimGrace = 3 * time.Second

// Run starts agents until ctx ends.
func (l *Launcher) Run(ctx context.Context) {
	for {
		l.launch(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(launchEvery):
		}
	}
}

func (l *Launcher) launch(ctx context.Context) {
	n, err := l.Claimable(ctx, l.Pool)
	if err != nil {
		if ctx.Err() == nil {
			slog.Error("launcher: counting claimable jobs", "err", err)
		}
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	young := 0
	for _, t := range l.started {
		if now.Sub(t) < claimGrace {
			l.started[young] = t
			young++
		}
	}
	l.started = l.started[:young]
	for range min(l.Pool-l.running, n-young) {
		cmd := l.Command()
		if err := cmd.Start(); err != nil {
			slog.Error("launcher: starting an agent", "err", err)
			return
		}
		l.running++
		l.started = append(l.started, now)
		go func() {
			err := cmd.Wait()
			if err != nil {
				slog.Warn("agent exited", "pid", cmd.Process.Pid, "err", err)
			}
			l.mu.Lock()
			l.running--
			l.mu.Unlock()
		}()
	}
}
