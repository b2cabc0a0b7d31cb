package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Sandbox modes (RUNPLANE_AGENT_SANDBOX).
const (
	// SandboxBwrap runs terraform under bubblewrap: its own user, mount,
	// PID, IPC and UTS namespaces as an unprivileged user, a read-only
	// system, the job folder, and nothing of the agent's.
	SandboxBwrap = "bwrap"
	// SandboxOff runs terraform as the agent, which lets a configuration
	// read whatever the agent can (its token, its environment, the host).
	// Only for an agent host that is itself a one-job throwaway with no
	// secrets but the job's.
	SandboxOff = "off"
)

// ErrNoSandbox: the sandbox the configuration asks for is not available.
var ErrNoSandbox = errors.New("bubblewrap (bwrap) not found: install it (Debian: apt-get install bubblewrap) or set RUNPLANE_AGENT_SANDBOX=off to run terraform unsandboxed (unsafe: a run can then read the agent's token and environment)")

// jobRoot is where the job folder appears inside the sandbox.
const jobRoot = "/job"

// sandbox builds terraform's command for one job.
type sandbox struct {
	bwrap string // empty: no sandbox
	// terraform is the binary, as the agent sees it.
	terraform string
	// jobDir is the job's folder on the host; inside it is jobRoot.
	jobDir string
	// binds are extra host folders terraform may use (plugin caches,
	// mirrors, test wrappers), read-write at the same path.
	binds []string
}

func newSandbox(mode, terraform, jobDir string, binds []string) (*sandbox, error) {
	s := &sandbox{terraform: terraform, jobDir: jobDir, binds: binds}
	switch mode {
	case SandboxOff:
		return s, nil
	case "", SandboxBwrap:
		path, err := exec.LookPath("bwrap")
		if err != nil {
			return nil, ErrNoSandbox
		}
		s.bwrap = path
		return s, nil
	}
	return nil, fmt.Errorf("RUNPLANE_AGENT_SANDBOX must be %s or %s, not %q", SandboxBwrap, SandboxOff, mode)
}

// root is the job folder as terraform sees it.
func (s *sandbox) root() string {
	if s.bwrap == "" {
		return s.jobDir
	}
	return jobRoot
}

// command returns terraform with args in the job's folder dir (relative to
// the job root), with exactly the environment env. The process leads its
// own process group, so a signal to -pid reaches terraform and whatever it
// started; with bwrap, the command reports that leader's pid through
// info, and everything in the sandbox dies with the agent.
func (s *sandbox) command(dir string, env []string, args ...string) (cmd *exec.Cmd, info *os.File, err error) {
	if s.bwrap == "" {
		cmd = exec.Command(s.terraform, args...)
		cmd.Dir, cmd.Env = filepath.Join(s.jobDir, dir), env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		return cmd, nil, nil
	}
	bw := []string{
		"--die-with-parent", "--new-session", "--as-pid-1",
		"--unshare-all", "--share-net", "--unshare-user", "--uid", "65534", "--gid", "65534",
		"--hostname", "runplane-job", "--cap-drop", "ALL",
		"--ro-bind", "/usr", "/usr",
		"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
	}
	for _, top := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64"} {
		if target, err := os.Readlink(top); err == nil {
			bw = append(bw, "--symlink", target, top)
		} else if fi, err := os.Stat(top); err == nil && fi.IsDir() {
			bw = append(bw, "--ro-bind", top, top)
		}
	}
	// Only what name resolution and TLS need from /etc: not the host's
	// users, keys or configuration.
	for _, f := range []string{"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl", "/etc/ca-certificates", "/etc/localtime"} {
		bw = append(bw, "--ro-bind-try", f, f)
	}
	if !strings.HasPrefix(s.terraform, "/usr/") {
		bw = append(bw, "--ro-bind", filepath.Dir(s.terraform), filepath.Dir(s.terraform))
	}
	for _, b := range s.binds {
		bw = append(bw, "--bind", b, b)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	bw = append(bw, "--bind", s.jobDir, jobRoot, "--chdir", filepath.Join(jobRoot, dir), "--info-fd", "3", "--", s.terraform)
	cmd = exec.Command(s.bwrap, append(bw, args...)...)
	// bwrap's own processes carry this environment too: only the allow-list.
	cmd.Env = env
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, r, nil
}

// leader reads the pid of the sandbox's command from bwrap's info pipe.
func leader(info *os.File) (int, error) {
	defer info.Close()
	var v struct {
		ChildPID int `json:"child-pid"`
	}
	if err := json.NewDecoder(info).Decode(&v); err != nil || v.ChildPID <= 0 {
		return 0, fmt.Errorf("bwrap did not report its child: %v", err)
	}
	return v.ChildPID, nil
}

// CheckSandbox reports whether agents can isolate terraform as mode asks,
// so a server refuses to start agents that could not run a job safely.
func CheckSandbox(mode string) error {
	_, err := newSandbox(mode, "", "", nil)
	return err
}
