package main

import (
	"strings"
	"testing"
	"time"

	"github.com/runplane/runplane/internal/agentapi"
)

// A run that prints without end keeps a bounded log that says it was cut;
// the run itself is unaffected. A 100 MB print used to become a 103 MB
// database row in clear.
func TestHugeOutputKeepsABoundedLog(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	ws := s.workspace("loud", true, map[string]string{"main.tf": `
resource "terraform_data" "loud" {
  provisioner "local-exec" {
    command = "head -c 9000000 /dev/zero | tr '\\000' x | fold -w 200"
  }
}
`})
	r := s.run(ws, "")
	s.wait(r, 3*time.Minute, "applied")
	log := s.logs(r, "apply")
	if len(log) < agentapi.MaxLog || len(log) > agentapi.MaxLog+1024 || !strings.Contains(log[agentapi.MaxLog-10:], "log truncated") {
		t.Fatalf("apply log of %d bytes, want %d and a truncation line; ends %q", len(log), agentapi.MaxLog, log[max(0, len(log)-200):])
	}
}
