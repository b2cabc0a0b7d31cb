package platform

import "testing"

// A deployment with a mistyped pool size must not start with no cap.
func TestPoolSizeFromEnv(t *testing.T) {
	t.Parallel()
	for value, want := range map[string]int{"": 7, "0": 0, "40": 40} {
		got, err := PoolSizeFromEnv(func(string) string { return value }, 7)
		if err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", value, got, err, want)
		}
	}
	for _, value := range []string{"-1", "forty", "4.5"} {
		if _, err := PoolSizeFromEnv(func(string) string { return value }, 7); err == nil {
			t.Errorf("%q accepted", value)
		}
	}
}
