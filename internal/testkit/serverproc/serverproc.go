// Package serverproc runs `runplane server` as a child process, the way
// `make run` starts it, for the drills and benchmarks that must measure the
// path users run: the real launcher, agents and terraform.
package serverproc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Build compiles cmd/runplane into dir; run it from the repository root.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "runplane")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/runplane").CombinedOutput(); err != nil {
		return "", fmt.Errorf("building runplane (run from the repository root): %v\n%s", err, out)
	}
	return bin, nil
}

// Server is one running `runplane server`.
type Server struct {
	cmd *exec.Cmd
	// Base is its API's URL.
	Base string
}

var listening = regexp.MustCompile(`runplane server listening" addr=(https?://\S+)`)

// startTimeout covers an embedded PostgreSQL's first initdb.
const startTimeout = 90 * time.Second

// Start runs bin's server with the process environment plus env, copying
// its log to log, and returns once it listens.
func Start(bin string, env []string, log io.Writer) (*Server, error) {
	cmd := exec.Command(bin, "server")
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	select {
	case base := <-Listening(stderr, log):
		return &Server{cmd: cmd, Base: base}, nil
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("the server did not start within %s", startTimeout)
	}
}

// Listening copies a server's log from r to log, line by line, and sends
// its API's URL once the server says it listens.
func Listening(r io.Reader, log io.Writer) <-chan string {
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintln(log, sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	return addr
}

// Kill is kill -9.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// Stop is SIGTERM, then kill -9 if it has not exited within 30 s.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.Kill()
	}
}

// Agents are the pids of the server's agent processes.
func (s *Server) Agents() []int {
	out, _ := exec.Command("pgrep", "-P", strconv.Itoa(s.cmd.Process.Pid)).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(cmdline), "agent") {
			pids = append(pids, pid)
		}
	}
	return pids
}
