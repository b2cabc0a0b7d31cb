package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/runplane/runplane/internal/agentapi"
)

// logStream collects terraform's output and appends it to the job's log in
// chunks, each at its byte offset, so a retried chunk is stored once.
type logStream struct {
	c    *client
	job  *agentapi.Job
	lost func()

	mu sync.Mutex
	// redactor masks sensitive values; raw is output it holds back until
	// the next write shows no value was split across the two.
	redactor *redactor
	raw      []byte
	pending  []byte
	kept     int // bytes of output kept, at most agentapi.MaxLog
	sent     int64
	flushMu  sync.Mutex
	// closed: the finish carries what is left; held under flushMu.
	closed bool
	// recent is the running command's latest output, masked: where a
	// failure's error finds terraform's diagnostics.
	recent []byte
}

// recentMax bounds what is remembered of a command's output.
const recentMax = 32 << 10

// command starts remembering a new command's output.
func (l *logStream) command() {
	l.mu.Lock()
	l.recent = l.recent[:0]
	l.mu.Unlock()
}

// diagnostics is what the last command's terraform reported as errors,
// masked like the log.
func (l *logStream) diagnostics() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	text := append([]byte(nil), l.recent...)
	if l.redactor != nil {
		text = append(text, l.redactor.redact(append([]byte(nil), l.raw...))...)
	} else {
		text = append(text, l.raw...)
	}
	return terraformErrors(text)
}

func (l *logStream) remember(p []byte) {
	l.recent = append(l.recent, p...)
	if over := len(l.recent) - recentMax; over > 0 {
		l.recent = append(l.recent[:0], l.recent[over:]...)
	}
}

// truncated ends a log that reached the server's limit.
var truncated = fmt.Sprintf("\n[runplane] log truncated: this phase printed more than %d MiB; the rest was not kept\n", agentapi.MaxLog>>20)

// redact makes the stream mask the given sensitive values from now on.
func (l *logStream) redact(values []string) {
	r := newRedactor(values)
	if len(r.secrets) == 0 {
		return
	}
	l.mu.Lock()
	l.redactor = r
	l.mu.Unlock()
}

// Write keeps up to agentapi.MaxLog bytes of a phase's output, known
// sensitive values masked, then one line saying the rest was dropped;
// terraform itself is never slowed or stopped.
func (l *logStream) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.redactor == nil {
		l.keep(p)
		l.remember(p)
		return len(p), nil
	}
	l.raw = l.redactor.redact(append(l.raw, p...))
	if cut := len(l.raw) - l.redactor.pending(l.raw); cut > 0 {
		l.keep(l.raw[:cut])
		l.remember(l.raw[:cut])
		l.raw = append([]byte(nil), l.raw[cut:]...)
	}
	return len(p), nil
}

// keep adds output to what is to be sent, up to the log's limit.
func (l *logStream) keep(p []byte) {
	if l.kept >= agentapi.MaxLog {
		return
	}
	keep := p[:min(len(p), agentapi.MaxLog-l.kept)]
	l.pending = append(l.pending, keep...)
	l.kept += len(keep)
	if l.kept >= agentapi.MaxLog {
		l.pending = append(l.pending, truncated...)
	}
}

func (l *logStream) flushEvery(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.flush(ctx)
		}
	}
}

// tail ends the stream: it sends all but the last agentapi.MaxFinishLog
// bytes and returns those, with their offset, for the job's finish to carry.
// Output the server would not take (appends kept failing) is dropped
// rather than making the finish fail too.
func (l *logStream) tail(ctx context.Context) (int64, []byte) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	l.keep(l.raw)
	l.raw = nil
	l.mu.Unlock()
	l.send(ctx, agentapi.MaxFinishLog)
	l.closed = true
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) > agentapi.MaxFinishLog {
		slog.Warn("the log's last bytes could not be sent; the finish goes without them", "job", l.job.ID, "bytes", len(l.pending))
		return l.sent, nil
	}
	return l.sent, l.pending
}

func (l *logStream) flush(ctx context.Context) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if !l.closed {
		l.send(ctx, 0)
	}
}

// send appends pending output in chunks until at most keep bytes are left.
func (l *logStream) send(ctx context.Context, keep int) {
	for {
		l.mu.Lock()
		n := min(len(l.pending), 256<<10)
		chunk := l.pending[:n:n]
		more := len(l.pending) > keep
		l.mu.Unlock()
		if n == 0 || !more {
			return
		}
		path := agentapi.JobPath(l.job.ID, fmt.Sprintf("logs?offset=%d", l.sent))
		_, err := l.c.retry(ctx, "PUT", path, l.job.LeaseToken, chunk, nil)
		if errors.Is(err, errLeaseLost) {
			l.lost()
			return
		}
		if err != nil {
			slog.Warn("log upload failed; will retry", "job", l.job.ID, "err", err)
			return
		}
		l.mu.Lock()
		l.pending = l.pending[n:]
		l.sent += int64(n)
		l.mu.Unlock()
	}
}
