package policy

import (
	"context"
	"testing"
	"time"
)

// A policy that would run for minutes is stopped at its deadline and
// reported as an error, which fails it.
func TestRunawayPolicyStopsAtItsDeadline(t *testing.T) {
	t.Parallel()
	mod, err := compile("spin", `package spin

deny contains msg if {
	some i in numbers.range(1, 20000)
	some j in numbers.range(1, 20000)
	i == j + 50000
	msg := "never"
}`)
	if err != nil {
		t.Fatal(err)
	}
	input, err := planInput([]byte(`{"resource_changes":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	msgs, err := evaluate(ctx, mod, input)
	if err == nil {
		t.Fatalf("a runaway policy finished with %v", msgs)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("stopped after %s, want near the 300 ms deadline", took)
	}
	t.Logf("stopped after %s: %s", time.Since(start).Round(time.Millisecond), describeError(err))
}
