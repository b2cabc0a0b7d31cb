package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// logStream collects terraform's output and appends it to the job's log in
// chunks, each at its byte offset, so a retried chunk is stored once.
type logStream struct {
	c    *client
	job  *job
	lost func()

	mu      sync.Mutex
	pending []byte
	sent    int64
	flushMu sync.Mutex
}

func (l *logStream) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.pending = append(l.pending, p...)
	l.mu.Unlock()
	return len(p), nil
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

func (l *logStream) close(ctx context.Context) { l.flush(ctx) }

func (l *logStream) flush(ctx context.Context) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	for {
		l.mu.Lock()
		n := min(len(l.pending), 256<<10)
		chunk := l.pending[:n:n]
		l.mu.Unlock()
		if n == 0 {
			return
		}
		path := fmt.Sprintf("/api/agent/v1/jobs/%s/logs?offset=%d", l.job.ID, l.sent)
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
