package agent

import "sync"

// Hint wakes long-polling claims in this process when work may have been
// queued. It is only an optimization: a claim that misses a hint still finds
// the job at its next database poll.
type Hint struct {
	mu sync.Mutex
	ch chan struct{}
}

// NewHint returns a Hint.
func NewHint() *Hint { return &Hint{ch: make(chan struct{})} }

// Wait returns a channel closed at the next Notify.
func (h *Hint) Wait() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ch
}

// Notify wakes every current waiter.
func (h *Hint) Notify() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.ch)
	h.ch = make(chan struct{})
}
