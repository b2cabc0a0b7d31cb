package agent

import "sync/atomic"

// Hint wakes a long-polling claim in this process when work may have been
// queued. It wakes one waiter per notification, not all of them: a herd of
// claims racing for one job would only collide on the same rows. A claim
// that gets a job notifies again, so the next waiter looks for more. It is
// only an optimization: a claim that misses a hint still finds the job at
// its next database poll.
//
// A notification is never lost to a claim that was looking already: one
// wake-up is buffered, and when it is taken by a claim whose read was made
// before the notified work committed, that claim sees the notification
// count move (Since) and looks again instead of waiting for its poll.
type Hint struct {
	ch    chan struct{}
	count atomic.Uint64
}

// NewHint returns a Hint.
func NewHint() *Hint { return &Hint{ch: make(chan struct{}, 1)} }

// Wait returns the channel a waiter receives a wake-up from.
func (h *Hint) Wait() <-chan struct{} { return h.ch }

// Mark is the notification count, to pass to Since after looking for work.
func (h *Hint) Mark() uint64 { return h.count.Load() }

// Since reports whether a notification came after mark.
func (h *Hint) Since(mark uint64) bool { return h.count.Load() != mark }

// Notify wakes one waiter, or the next one to wait.
func (h *Hint) Notify() {
	h.count.Add(1)
	select {
	case h.ch <- struct{}{}:
	default:
	}
}
