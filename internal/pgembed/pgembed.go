package pgembed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Options tune the cluster.
type Options struct {
	// Durable keeps fsync on. Tests turn it off for speed; the server and the
	// benchmarks keep it, so their figures compare with pgbench's.
	Durable bool
	// LogPath receives the server log; empty puts it in the data folder.
	LogPath string
}

// Cluster is a running PostgreSQL server.
type Cluster struct {
	dataDir   string
	socketDir string
	bin       string
	cred      *syscall.Credential
	// startArgs are the server options of a cluster Running found.
	startArgs []string
}

// ErrBinariesMissing means no PostgreSQL server binaries were found.
var ErrBinariesMissing = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin; install PostgreSQL or set DATABASE_URL")

// Start initialises dataDir if it holds no cluster yet and starts a server on it.
func Start(ctx context.Context, dataDir string, opts Options) (*Cluster, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	dataDir, err = filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	socketDir, err := os.MkdirTemp("", "rp-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dataDir: dataDir, socketDir: socketDir, bin: bin, cred: cred}
	if err := c.chown(socketDir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, err
		}
		if err := c.chown(dataDir); err != nil {
			return nil, err
		}
		if err := c.run(ctx, "initdb", "-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
			return nil, fmt.Errorf("initdb: %w", err)
		}
	}
	if err := c.stopStale(ctx); err != nil {
		return nil, err
	}
	logPath := opts.LogPath
	if logPath == "" {
		logPath = filepath.Join(dataDir, "server.log")
	}
	fsync := "off"
	if opts.Durable {
		fsync = "on"
	}
	// Every transaction is SERIALIZABLE, and PostgreSQL's SSI takes a
	// relation-wide predicate lock for a sequential scan, which makes every
	// concurrent writer of the table a conflict. All our queries are served
	// by indexes, so the planner is told to use them even on small tables.
	// That inflates the cost of the few scans left (test invariant checks)
	// past the JIT threshold, and compiling them costs far more than running
	// them, so JIT is off.
	serverOpts := fmt.Sprintf("-c listen_addresses='' -k %s -p 5432 -c fsync=%s -c max_connections=300"+
		" -c enable_seqscan=off -c jit=off -c max_pred_locks_per_transaction=256", socketDir, fsync)
	if !opts.Durable {
		serverOpts += " -c synchronous_commit=off -c full_page_writes=off"
	}
	if err := c.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", dataDir, "-l", logPath, "-o", serverOpts); err != nil {
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("pg_ctl start: %w\n%s", err, tail(log))
	}
	return c, nil
}

// stopStale stops a server still running on the data folder: the one a
// process that died without stopping it (kill -9) left behind. Its socket
// folder is gone with that process's temporary files, so it is stopped,
// not adopted; a pid file whose server is dead is PostgreSQL's own to clear.
func (c *Cluster) stopStale(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); err != nil {
		return nil
	}
	if c.run(ctx, "pg_ctl", "status", "-D", c.dataDir) != nil {
		return nil // not running
	}
	if err := c.run(ctx, "pg_ctl", "stop", "-w", "-t", "60", "-D", c.dataDir, "-m", "fast"); err != nil {
		return fmt.Errorf("stopping the PostgreSQL left running on %s: %w", c.dataDir, err)
	}
	return nil
}

// URL is a connection string for database name on this cluster.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=5432&sslmode=disable", name, c.socketDir)
}

// SocketDir is the folder holding the server's unix socket, for tools such as pgbench.
func (c *Cluster) SocketDir() string { return c.socketDir }

// Stop shuts the server down; fast waits for nothing but in-flight commits.
func (c *Cluster) Stop(fast bool) error {
	mode := "fast"
	if fast {
		mode = "immediate"
	}
	err := c.run(context.Background(), "pg_ctl", "stop", "-w", "-D", c.dataDir, "-m", mode)
	_ = os.RemoveAll(c.socketDir)
	return err
}

// RunTool runs a PostgreSQL client tool (pgbench, psql) against the cluster as
// the user the server runs as.
func (c *Cluster) RunTool(ctx context.Context, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		path = filepath.Join(c.bin, name)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "PGHOST="+c.socketDir, "PGPORT=5432", "PGUSER=postgres")
	return cmd.CombinedOutput()
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		cmd.Dir = "/"
	}
	// pg_ctl start leaves the server running with these pipes unless they are files.
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if name == "pg_ctl" {
		cmd.Stdout, cmd.Stderr = nil, nil
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, tail(out.Bytes()))
	}
	return nil
}

func (c *Cluster) chown(path string) error {
	if c.cred == nil {
		return nil
	}
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(c.cred.Uid), int(c.cred.Gid))
	})
}

// runAs is the identity the server runs under: ourselves, or postgres when we are root.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and PostgreSQL refuses root: need a 'postgres' user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// Tool returns the path of a PostgreSQL client tool (pg_dump, psql): on
// PATH, or beside the server binaries.
func Tool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	bin, err := findBinaries()
	if err != nil {
		return "", err
	}
	return filepath.Join(bin, name), nil
}

func findBinaries() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if _, err := os.Stat(filepath.Join(filepath.Dir(real), "initdb")); err == nil {
				return filepath.Dir(real), nil
			}
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) == 0 {
		return "", ErrBinariesMissing
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

func tail(b []byte) string {
	const n = 2000
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Running returns the cluster a live server runs on dataDir, from its
// postmaster.opts, so that a test or the chaos tool can stop it and start
// it again as it was (the database outage of a fault drill).
func Running(dataDir string) (*Cluster, error) {
	opts, err := os.ReadFile(filepath.Join(dataDir, "postmaster.opts"))
	if err != nil {
		return nil, fmt.Errorf("no PostgreSQL was started on %s: %w", dataDir, err)
	}
	var args []string
	for _, m := range quoted.FindAllStringSubmatch(string(opts), -1) {
		args = append(args, m[1])
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	fields := strings.Fields(string(opts))
	if len(fields) == 0 || len(args) < 2 || args[0] != "-D" {
		return nil, fmt.Errorf("cannot read %s/postmaster.opts", dataDir)
	}
	return &Cluster{dataDir: dataDir, bin: filepath.Dir(fields[0]), cred: cred, startArgs: args[2:]}, nil
}

var quoted = regexp.MustCompile(`"([^"]*)"`)

// Pause stops a cluster Running returned, as an outage would.
func (c *Cluster) Pause(ctx context.Context) error {
	return c.run(ctx, "pg_ctl", "stop", "-w", "-D", c.dataDir, "-m", "fast")
}

// Resume starts a paused cluster with the options it ran with.
func (c *Cluster) Resume(ctx context.Context) error {
	var o []string
	for _, a := range c.startArgs {
		o = append(o, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	return c.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", c.dataDir, "-l", filepath.Join(c.dataDir, "server.log"), "-o", strings.Join(o, " "))
}
