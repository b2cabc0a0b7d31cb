package fairshare

import "time"

// Bucket is an organization's token bucket as stored.
type Bucket struct {
	Tokens float64
	At     time.Time
	Burst  float64
	// Refill is tokens per second.
	Refill float64
}

// Refilled is the bucket at now: refilled for the time since At, capped at
// the burst. A now before At refills nothing and keeps At.
func (b Bucket) Refilled(now time.Time) Bucket {
	if now.After(b.At) {
		b.Tokens += b.Refill * now.Sub(b.At).Seconds()
		b.At = now
	}
	b.Tokens = max(0, min(b.Tokens, b.Burst))
	return b
}

// Take spends one token at now if the refilled bucket has one.
func (b Bucket) Take(now time.Time) (Bucket, bool) {
	b = b.Refilled(now)
	if b.Tokens < 1 {
		return b, false
	}
	b.Tokens--
	return b, true
}
