package main

import (
	"bufio"
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
// dataDir; it returns the server's address and process.
func startEmbedded(t *testing.T, dataDir, terraform string) (string, *exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(binary, "server")
	cmd.Env = append(os.Environ(), "DATABASE_URL=", "RUNPLANE_DATA_DIR="+dataDir, "RUNPLANE_ADDR=127.0.0.1:0",
		"RUNPLANE_ADMIN_TOKEN="+adminSecret, "RUNPLANE_AGENT_TOKEN="+agentSecret, "RUNPLANE_AGENT_POOL_SIZE=2",
		"RUNPLANE_AGENT_LEASE=2s", "RUNPLANE_AGENT_HEARTBEAT=400ms", "RUNPLANE_TICK_INTERVAL=300ms",
		"RUNPLANE_TERRAFORM="+terraform, "RUNPLANE_AGENT_SANDBOX_BIND="+filepath.Dir(terraform))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	log := &lockedBuffer{}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(log, sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case base := <-addr:
		return base, cmd, log
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not start:\n%s", log)
	}
	return "", nil, nil
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
	parent, err := os.MkdirTemp("", "rp-restart-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o711); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(parent, "data")
	tf, slow := slowTerraform(t)
	base, cmd, log := startEmbedded(t, dataDir, tf)
	s := &server{t: t, base: base, token: adminSecret, log: log}
	s.do("POST", "/api/v1/organizations", `{"name":"acme"}`, 201)
	s.token = s.do("POST", "/api/v1/organizations/acme/tokens", `{"description":"e2e","role":"admin"}`, 201)["token"].(string)
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
		t.Fatalf("no agent process under the server\n%s", log)
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
	base2, _, log2 := startEmbedded(t, dataDir, tf)
	s.base, s.log = base2, log2
	if resp, err := http.Get(base2 + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz after restart: %v %v", resp, err)
	}
	s.wait(r, time.Minute, "planned")
}
