package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// walkthrough is the README's walkthrough: the first sh block after its
// heading, as a reader copies it.
func walkthrough(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "\n## Walkthrough\n")
	_, block, ok2 := strings.Cut(after, "```sh\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("the README has no walkthrough sh block")
	}
	return block
}

// expectedPair is one "key":value the walkthrough says an answer holds.
var expectedPair = regexp.MustCompile(`"[a-z_]+":("[^"]*"|[0-9]+|true|false)`)

// The README's walkthrough, run as written against runplane server with
// its real agents (only the address and the admin token's file are the
// test's): every command succeeds and every answer holds what the
// walkthrough's "# →" comments say it does. A README line that drifts
// from what Runplane does fails here.
func TestTheREADMEWalkthroughIsTrue(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	script := walkthrough(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".runplane"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, ".runplane", "admin-token"), adminSecret)
	cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", strings.ReplaceAll(script, "http://127.0.0.1:8080", s.base))
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the walkthrough failed: %v\n%s\nserver log:\n%s", err, out, s.log)
	}
	var expected []string
	for _, line := range strings.Split(script, "\n") {
		if _, arrow, ok := strings.Cut(line, "# →"); ok {
			expected = append(expected, expectedPair.FindAllString(arrow, -1)...)
		}
	}
	if len(expected) < 10 {
		t.Fatalf("only %d expectations read from the walkthrough: %v", len(expected), expected)
	}
	for _, want := range expected {
		if !strings.Contains(string(out), want) {
			t.Errorf("the walkthrough's answers do not hold %s:\n%s", want, out)
		}
	}
}
