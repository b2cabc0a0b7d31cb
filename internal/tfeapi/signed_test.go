package tfeapi

import (
	"testing"
	"time"
)

// A capability URL's token is good for its purpose and subject until it
// expires, and for nothing else.
func TestSignedTokens(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	s := signer{key: URLKey("secret"), now: func() time.Time { return now }}
	tok := s.sign("log", "plan/a/b", time.Minute)
	if err := s.verify("log", "plan/a/b", tok); err != nil {
		t.Fatalf("a fresh token: %v", err)
	}
	for name, check := range map[string]func() error{
		"another purpose": func() error { return s.verify("upload", "plan/a/b", tok) },
		"another subject": func() error { return s.verify("log", "apply/a/b", tok) },
		"another key": func() error {
			return signer{key: URLKey("other"), now: s.now}.verify("log", "plan/a/b", tok)
		},
		"no expiry": func() error { return s.verify("log", "plan/a/b", tok[11:]) },
		"expired": func() error {
			later := signer{key: s.key, now: func() time.Time { return now.Add(time.Minute + time.Second) }}
			return later.verify("log", "plan/a/b", tok)
		},
	} {
		if check() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
