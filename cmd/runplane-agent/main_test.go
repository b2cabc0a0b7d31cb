package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The agent says how to use it and what it misses instead of trying to
// claim from nowhere: --help prints its settings and exits 0; no server
// or token, or an unknown argument, exits 2 naming what to set.
func TestTheAgentSaysWhatItNeeds(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "runplane-agent")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		env  []string
		code int
		want string
	}{
		{[]string{"--help"}, nil, 0, "RUNPLANE_URL"},
		{nil, []string{"RUNPLANE_AGENT_TOKEN=x"}, 2, "set RUNPLANE_URL"},
		{nil, []string{"RUNPLANE_URL=http://127.0.0.1:1"}, 2, "set RUNPLANE_AGENT_TOKEN"},
		{[]string{"claim"}, nil, 2, "usage: runplane-agent"},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, c.env...)
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		}
		if code != c.code || !strings.Contains(string(out), c.want) {
			t.Errorf("runplane-agent %v with %v: exit %d, want %d with %q:\n%s", c.args, c.env, code, c.code, c.want, out)
		}
	}
}
