package jobs

// Hint wakes a long-polling claim in this process when work may have been
// queued. It wakes one waiter per notification, not all of them: a herd of
// claims racing for one job would only collide on the same rows. A claim
// that gets a job notifies again, so the next waiter looks for more. It is
// only an optimization: a claim that misses a hint still finds the job at
// its next database poll.
type Hint struct{ ch chan struct{} }

// NewHint returns a Hint.
func NewHint() *Hint { return &Hint{ch: make(chan struct{}, 1)} }

// Wait returns the channel a waiter receives a wake-up from.
func (h *Hint) Wait() <-chan struct{} { return h.ch }

// Notify wakes one waiter, or the next one to wait.
func (h *Hint) Notify() {
	select {
	case h.ch <- struct{}{}:
	default:
	}
}
