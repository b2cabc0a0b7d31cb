package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Process is one started ephemeral agent: a process here, a task on a cloud.
type Process interface {
	// Permit lets the agent claim: until then it waits, booted and ready.
	Permit() error
	// Wait returns when the agent has ended.
	Wait() error
	// Stop asks the agent to end: a waiting one leaves its claim, a busy
	// one interrupts terraform (which saves state) and reports.
	Stop()
}

// Launcher keeps the pool ready. Pool agents hold a permit to claim, each
// waiting in a claim or running its one job; Spare more wait booted
// without one. When an agent exits its permit passes at once to a spare,
// already started, and a new spare starts. Work that becomes claimable is
// therefore claimed by an agent already waiting, in the time of one claim
// transaction; the apply of a run whose plan just finished does not wait
// for a process to boot; and a slot freed under load is refilled without
// waiting for one either. At most Pool agents hold jobs.
type Launcher struct {
	Pool, Spare int
	// Start starts one agent, waiting for its permit.
	Start func() (Process, error)
}

// crashBackoff bounds how fast a slot restarts an agent that keeps
// failing at once (no terraform, no sandbox, server unreachable).
const (
	crashQuick      = time.Second
	crashBackoffMin = 100 * time.Millisecond
	crashBackoffMax = 5 * time.Second
)

// Run keeps the pool until ctx ends, then stops the agents and returns
// once they have all exited.
func (l *Launcher) Run(ctx context.Context) {
	permits := make(chan struct{}, l.Pool)
	for range l.Pool {
		permits <- struct{}{}
	}
	var wg sync.WaitGroup
	for range l.Pool + l.Spare {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.slot(ctx, permits)
		}()
	}
	wg.Wait()
}

// slot is one agent, then its replacement, and so on.
func (l *Launcher) slot(ctx context.Context, permits chan struct{}) {
	backoff := crashBackoffMin
	for ctx.Err() == nil {
		began := time.Now()
		err := l.runOne(ctx, permits)
		if err == nil || time.Since(began) >= crashQuick {
			backoff = crashBackoffMin
			continue
		}
		slog.Warn("launcher: agent failed at once; restarting after a pause", "err", err, "pause", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, crashBackoffMax)
	}
}

// runOne starts an agent, gives it a permit when one is free and waits for
// it, stopping it when ctx ends. The permit returns when the agent exits.
func (l *Launcher) runOne(ctx context.Context, permits chan struct{}) error {
	a, err := l.Start()
	if err != nil {
		slog.Error("launcher: starting an agent", "err", err)
		return err
	}
	ended := make(chan struct{})
	held := make(chan bool, 1)
	go func() {
		permitted := false
		defer func() { held <- permitted }()
		select {
		case <-permits:
			permitted = true
			if err := a.Permit(); err != nil {
				slog.Warn("launcher: permitting an agent", "err", err)
			}
		case <-ctx.Done():
			a.Stop()
			return
		case <-ended:
			return
		}
		select {
		case <-ctx.Done():
			a.Stop()
		case <-ended:
		}
	}()
	err = a.Wait()
	close(ended)
	if <-held {
		permits <- struct{}{}
	}
	if err != nil && ctx.Err() == nil {
		slog.Warn("agent exited", "err", err)
	}
	return err
}

// PermitFD is the file descriptor a launched agent reads its permit from.
const PermitFD = 3

// StartProcess starts cmd as an agent that waits for a permit on PermitFD
// and is stopped with SIGTERM.
func StartProcess(cmd *exec.Cmd) (Process, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd.ExtraFiles = []*os.File{r}
	cmd.Env = append(cmd.Env, fmt.Sprintf("RUNPLANE_AGENT_PERMIT_FD=%d", PermitFD))
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, err
	}
	return &process{cmd: cmd, permit: w}, nil
}

type process struct {
	cmd    *exec.Cmd
	permit *os.File
}

func (p *process) Permit() error {
	_, err := p.permit.Write([]byte{1})
	return err
}

// Wait closes the permit pipe too: an agent still waiting on it then
// learns that its launcher has let it go.
func (p *process) Wait() error {
	err := p.cmd.Wait()
	p.permit.Close()
	return err
}

func (p *process) Stop() { _ = p.cmd.Process.Signal(syscall.SIGTERM) }
