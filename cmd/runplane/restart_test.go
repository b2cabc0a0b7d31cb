package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startEmbedded runs `runplane server` on its embedded PostgreSQL in
// dataDir; it returns the server's address, process and log.
func startEmbedded(t *testing.T, dataDir, terraform string) (string, *exec.Cmd, *lockedBuffer) {
	t.Helper()
	return launch(t, terraform, true, "DATABASE_URL=", "RUNPLANE_DATA_DIR="+dataDir, "RUNPLANE_AGENT_POOL_SIZE=2")
}

// startEmbeddedServer is startEmbedded on a fresh data folder (s.dataDir),
// signed in as the admin of organization acme.
func startEmbeddedServer(t *testing.T, terraform string) (*server, *exec.Cmd) {
	t.Helper()
	parent, err := os.MkdirTemp("", "rp-embedded-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	// Traversable by the database's own user when the test runs as root.
	if err := os.Chmod(parent, 0o711); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(parent, "data")
	base, cmd, log := startEmbedded(t, dataDir, terraform)
	s := &server{t: t, base: base, log: log, dataDir: dataDir}
	s.signIn()
	return s, cmd
}

// children lists the pids whose parent is pid.
func children(pid int) []int {
	out, _ := exec.Command("pgrep", "-P", strconv.Itoa(pid)).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// kill -9 of `runplane server` needs no person: its agents die with it,
// and the next start on the same data folder stops the PostgreSQL it left
// running, starts again and finishes the interrupted run.
func TestServerKilledRestartsByItself(t *testing.T) {
	t.Parallel()
	tf, slow := slowTerraform(t)
	s, cmd := startEmbeddedServer(t, tf)
	ws := s.workspace("network", false, map[string]string{"main.tf": networkTF})
	sleeping := slow()
	r := s.run(ws, "")
	sleeping()
	var agents []int
	for _, c := range children(cmd.Process.Pid) {
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", c)); strings.HasSuffix(exe, "runplane") {
			agents = append(agents, c)
		}
	}
	if len(agents) == 0 {
		t.Fatalf("no agent process under the server\n%s", s.log)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range agents {
		for syscall.Kill(a, 0) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("agent %d outlived the server by 30 s", a)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	base2, _, log2 := startEmbedded(t, s.dataDir, tf)
	s.base, s.log = base2, log2
	if resp, err := http.Get(base2 + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz after restart: %v %v", resp, err)
	}
	s.wait(r, time.Minute, "planned")
}
