package fairshare

import (
	"math/rand/v2"
	"testing"
	"time"
)

// Random clocks, including ones that jump backwards, against the
// invariants: bounds, no minting from skew, and the rate limit.
func TestBucketProperties(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 2000 {
		burst := float64(1 + r.IntN(50))
		b := Bucket{Tokens: burst * r.Float64(), At: start, Burst: burst, Refill: 0.1 + 20*r.Float64()}
		initial := b.Tokens
		clock := start
		latest := start
		spent := 0
		for range 200 {
			// Mostly forward, sometimes backwards by up to a second.
			step := time.Duration(r.IntN(200)-30) * time.Millisecond
			clock = clock.Add(step)
			before := b
			var ok bool
			b, ok = b.Take(clock)
			if ok {
				spent++
			}
			if b.Tokens < 0 || b.Tokens > b.Burst {
				t.Fatalf("tokens %f outside [0, %f]", b.Tokens, b.Burst)
			}
			if b.At.Before(before.At) {
				t.Fatalf("bucket time moved back from %s to %s", before.At, b.At)
			}
			if !clock.After(before.At) && b.Tokens > before.Tokens {
				t.Fatalf("a clock at or before the bucket's time refilled %f → %f", before.Tokens, b.Tokens)
			}
			if ok && before.Refilled(clock).Tokens < 1 {
				t.Fatal("took a token the bucket did not have")
			}
			if clock.After(latest) {
				latest = clock
			}
			limit := initial + b.Refill*latest.Sub(start).Seconds()
			if float64(spent) > limit+1e-9 {
				t.Fatalf("spent %d tokens, at most %f were ever available", spent, limit)
			}
		}
	}
}

func TestBurstCapsRefill(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := Bucket{Tokens: 0, At: at, Burst: 5, Refill: 1}
	if got := b.Refilled(at.Add(time.Hour)).Tokens; got != 5 {
		t.Fatalf("after an hour: %f, want the burst 5", got)
	}
	if _, ok := b.Take(at.Add(500 * time.Millisecond)); ok {
		t.Fatal("took a token after half a token's refill")
	}
	if _, ok := b.Take(at.Add(time.Second)); !ok {
		t.Fatal("no token after a full second at 1/s")
	}
}
