package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/runplane/runplane/internal/agentapi"
)

// maxStateBody bounds what terraform may post: above the server's 50 MB
// limit, which is the one that decides.
const maxStateBody = 64 << 20

// stateProxy is terraform's HTTP backend inside the agent's task. Terraform
// speaks the backend protocol to it on the loopback, and it passes each
// call to the server with the job's credential, except that a large state
// goes straight to or from storage under a grant (behind API Gateway the
// server takes and answers at most 6 MB; states go to 50 MB). It answers
// only a caller that presents the job's credential, because the terraform
// of other jobs on the same host reaches the loopback too.
//
// It runs as a process of its own (the agent's binary with
// StateProxyCommand), so that an agent that freezes leaves the terraform
// it started able to save state, as when terraform spoke to the server
// directly; it dies with the agent, as terraform does.
type stateProxy struct {
	upstream   string
	credential string
	http       *http.Client
}

// StateProxyCommand, appended to the agent's command line, makes the
// agent's binary serve one job's state proxy instead of claiming jobs.
const StateProxyCommand = "state-proxy"

// proxySettings is what the agent hands its state proxy on stdin.
type proxySettings struct {
	Upstream   string `json:"upstream"`
	Credential string `json:"credential"`
}

// ServeStateProxy is the state proxy's process: it listens, prints the
// state's address for terraform, reads its settings from stdin (they come
// once the agent has claimed a job: the process starts while the agent
// waits, so its start costs a job nothing), and serves until stdin closes
// (the agent is done with it, or gone).
func ServeStateProxy() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	if _, err := fmt.Printf("http://%s/state\n", ln.Addr()); err != nil {
		return err
	}
	in := bufio.NewReader(os.Stdin)
	line, err := in.ReadBytes('\n')
	if errors.Is(err, io.EOF) && len(line) == 0 {
		return nil // the agent ended without a job
	}
	if err != nil {
		return fmt.Errorf("state proxy settings: %w", err)
	}
	var set proxySettings
	if err := json.Unmarshal(line, &set); err != nil {
		return fmt.Errorf("state proxy settings: %w", err)
	}
	p := &stateProxy{upstream: set.Upstream, credential: set.Credential, http: &http.Client{Timeout: 2 * time.Minute}}
	srv := &http.Server{Handler: p.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	_, _ = io.Copy(io.Discard, in)
	return srv.Close()
}

// StateProxyProcess is a started state proxy, waiting for its job's settings.
type StateProxyProcess struct {
	addr  string
	stdin io.WriteCloser
	cmd   *exec.Cmd
}

// startStateProxy starts this agent's state proxy process: its own
// command line with StateProxyCommand appended.
func startStateProxy() (*StateProxyProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return StartStateProxy(append([]string{self}, append(os.Args[1:], StateProxyCommand)...))
}

// StartStateProxy runs command (an agent binary's state proxy), which
// listens at once; Configure gives it its state.
func StartStateProxy(command []string) (*StateProxyProcess, error) {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &StateProxyProcess{stdin: stdin, cmd: cmd}
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		p.Stop()
		return nil, fmt.Errorf("state proxy did not start: %w", err)
	}
	p.addr = strings.TrimSpace(addr)
	return p, nil
}

// Configure points the proxy at the state at upstream (the workspace's
// state URL on the server) with the job's credential, and answers
// terraform's address for it.
func (p *StateProxyProcess) Configure(upstream, credential string) (string, error) {
	set, _ := json.Marshal(proxySettings{Upstream: upstream, Credential: credential})
	if _, err := p.stdin.Write(append(set, '\n')); err != nil {
		return "", fmt.Errorf("state proxy settings: %w", err)
	}
	return p.addr, nil
}

// Stop ends the proxy and waits for it.
func (p *StateProxyProcess) Stop() {
	p.stdin.Close()
	_ = p.cmd.Wait()
}

// handler serves terraform's HTTP backend calls, with the lock verbs
// terraform is told to use (POST to …/lock and …/unlock).
func (p *stateProxy) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /state", p.get)
	mux.HandleFunc("POST /state", p.post)
	mux.HandleFunc("POST /state/lock", func(w http.ResponseWriter, r *http.Request) { p.forward(w, r, "/lock") })
	mux.HandleFunc("POST /state/unlock", func(w http.ResponseWriter, r *http.Request) { p.forward(w, r, "/unlock") })
	return p.authenticated(mux)
}

func (p *stateProxy) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pw, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(pw), []byte(p.credential)) != 1 {
			http.Error(w, "this is a job's state; it answers that job's credential only", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// get reads the state, a large one straight from storage.
func (p *stateProxy) get(w http.ResponseWriter, r *http.Request) {
	answer, err := p.call(r.Context(), "GET", p.upstream, acceptObject, nil)
	if err != nil {
		unreachable(w, err)
		return
	}
	if answer.status != http.StatusOK || !isGrant(answer.header) {
		relay(w, answer)
		return
	}
	var g agentapi.ObjectDownload
	if err := json.Unmarshal(answer.body, &g); err != nil {
		unreachable(w, err)
		return
	}
	data, err := download(r.Context(), p.http, g)
	if err != nil {
		unreachable(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}

// post writes the state (?ID= names the lock), a large one straight into
// storage when the server grants it.
func (p *stateProxy) post(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxStateBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	if len(data) > agentapi.LargeObject {
		done, err := p.postDirect(w, r, data)
		if err != nil {
			unreachable(w, err)
			return
		}
		if done {
			return
		}
	}
	p.forwardBody(w, r, "", data)
}

// postDirect uploads the state under a grant and commits it, relaying the
// server's answer; false when the server takes states through the API only.
func (p *stateProxy) postDirect(w http.ResponseWriter, r *http.Request, data []byte) (bool, error) {
	req, _ := json.Marshal(agentapi.ObjectUploadRequest{Size: int64(len(data))})
	answer, err := p.call(r.Context(), "POST", p.upstream+"/objects", nil, req)
	if err != nil {
		return false, err
	}
	if answer.status != http.StatusCreated {
		if noDirectTransfer(answer) {
			return false, nil
		}
		relay(w, answer)
		return true, nil
	}
	var g agentapi.ObjectUpload
	if err := json.Unmarshal(answer.body, &g); err != nil {
		return false, err
	}
	commit, err := upload(r.Context(), p.http, g, data)
	if err != nil {
		return false, err
	}
	raw, _ := json.Marshal(commit)
	answer, err = p.call(r.Context(), "PUT", withQuery(p.upstream+"/objects/"+g.ObjectID.String(), r), nil, raw)
	if err != nil {
		return false, err
	}
	relay(w, answer)
	return true, nil
}

func (p *stateProxy) forward(w http.ResponseWriter, r *http.Request, suffix string) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	p.forwardBody(w, r, suffix, data)
}

// forwardBody passes a call to the server as it came.
func (p *stateProxy) forwardBody(w http.ResponseWriter, r *http.Request, suffix string, data []byte) {
	header := map[string]string{}
	for _, k := range []string{"Content-Type", "Content-MD5"} {
		if v := r.Header.Get(k); v != "" {
			header[k] = v
		}
	}
	answer, err := p.call(r.Context(), r.Method, withQuery(p.upstream+suffix, r), header, data)
	if err != nil {
		unreachable(w, err)
		return
	}
	relay(w, answer)
}

// withQuery is target with the query terraform sent (the lock's ?ID=).
func withQuery(target string, r *http.Request) string {
	if r.URL.RawQuery == "" {
		return target
	}
	return target + "?" + r.URL.RawQuery
}

// call sends one request to the server with the job's credential and
// reads the whole answer, which terraform is to see whatever its status.
func (p *stateProxy) call(ctx context.Context, method, target string, header map[string]string, body []byte) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	req.SetBasicAuth("runplane", p.credential)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return readAnswer(p.http, req)
}

// relay answers terraform with the server's answer.
func relay(w http.ResponseWriter, answer reply) {
	if ct := answer.header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(answer.status)
	_, _ = w.Write(answer.body)
}

// unreachable answers 502, which terraform retries like any 5xx.
func unreachable(w http.ResponseWriter, err error) {
	if !errors.Is(err, context.Canceled) {
		slog.Warn("state proxy: call failed", "err", err)
	}
	http.Error(w, "state proxy: "+err.Error(), http.StatusBadGateway)
}
