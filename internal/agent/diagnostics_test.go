package agent

import (
	"strings"
	"testing"
)

// A failed job's error says what terraform said, in either of the shapes
// terraform prints diagnostics (boxed, or plain when not on a terminal),
// and nothing when terraform reported no error.
func TestTerraformErrorsAreCarried(t *testing.T) {
	t.Parallel()
	plain := "Initializing...\n\nError: Reference to undeclared input variable\n\n  on main.tf line 1, in output \"x\":\n   1: output \"x\" { value = var.nope }\n\n\n\nAn input variable with the name \"nope\" has not been declared.\n"
	boxed := "╷\n│ Warning: something\n╵\n╷\n│ Error: Error acquiring the state lock\n│ \n│ Error message: state is locked\n│ Lock Info:\n│   ID:        lk1\n╵\n"
	for name, c := range map[string]struct{ out, want, not string }{
		"plain":    {plain, "Error: Reference to undeclared input variable\n\n  on main.tf line 1, in output \"x\":\n   1: output \"x\" { value = var.nope }\n\nAn input variable", "Initializing"},
		"boxed":    {boxed, "Error: Error acquiring the state lock\n\nError message: state is locked\nLock Info:\n  ID:        lk1", "Warning"},
		"no error": {"Plan: 1 to add\n", "", ""},
	} {
		got := terraformErrors([]byte(c.out))
		if !strings.HasPrefix(got, c.want) || (c.want == "" && got != "") || (c.not != "" && strings.Contains(got, c.not)) {
			t.Errorf("%s: %q", name, got)
		}
	}
	long := "Error: x\n" + strings.Repeat("a line of detail\n", 500)
	if got := terraformErrors([]byte(long)); len(got) > maxDiagnostics+4 || !strings.HasSuffix(got, "…") {
		t.Errorf("a long diagnostic is %d bytes, ends %q", len(got), got[len(got)-10:])
	}
}
