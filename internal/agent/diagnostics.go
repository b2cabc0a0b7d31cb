package agent

import (
	"bytes"
	"strings"
)

// maxDiagnostics bounds the terraform errors a failed job's error carries.
const maxDiagnostics = 2 << 10

// terraformErrors is what terraform said went wrong in out: everything
// from its first "Error:" diagnostic on (terraform prints errors last),
// the boxes it draws around diagnostics removed, blank runs collapsed,
// cut at maxDiagnostics. Empty when out holds no error.
func terraformErrors(out []byte) string {
	var lines []string
	found := false
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimRight(line, " \r")
		line = strings.TrimPrefix(strings.TrimPrefix(line, "│ "), "│")
		if line == "╷" || line == "╵" {
			continue
		}
		if !found {
			found = strings.HasPrefix(line, "Error: ")
		}
		if found && (line != "" || (len(lines) > 0 && lines[len(lines)-1] != "")) {
			lines = append(lines, line)
		}
	}
	text := strings.TrimSpace(strings.Join(lines, "\n"))
	if len(text) > maxDiagnostics {
		cut := bytes.LastIndexByte([]byte(text[:maxDiagnostics]), '\n')
		if cut <= 0 {
			cut = maxDiagnostics
		}
		text = text[:cut] + "\n…"
	}
	return text
}
