package main

import (
	"strings"
	"testing"
	"time"
)

// A run's terraform gets its workload identity token as a file: named by
// WORKLOAD_IDENTITY_TOKEN_FILE, and by AWS_WEB_IDENTITY_TOKEN_FILE
// when the workspace names an AWS role, where the AWS provider looks for
// it. The token itself never reaches the log.
func TestRunsGetTheirWorkloadIdentityToken(t *testing.T) {
	t.Parallel()
	s := startServer(t, "terraform")
	ws := s.workspace("cloud", true, map[string]string{"main.tf": `
resource "terraform_data" "x" {
  provisioner "local-exec" {
    command = "test -s \"$AWS_WEB_IDENTITY_TOKEN_FILE\" && test \"$AWS_WEB_IDENTITY_TOKEN_FILE\" = \"$WORKLOAD_IDENTITY_TOKEN_FILE\" && echo identity-file-ok; cat \"$WORKLOAD_IDENTITY_TOKEN_FILE\""
  }
}
output "parts" {
  value = length(split(".", file("../identity.jwt")))
}
`})
	s.do("POST", "/api/v1/workspaces/"+ws+"/vars", `{"key":"AWS_ROLE_ARN","value":"arn:aws:iam::123456789012:role/runplane","category":"env"}`, 201)
	r := s.run(ws, "")
	if got := s.wait(r, 2*time.Minute, "applied", "errored"); got["status"] != "applied" {
		t.Fatalf("run %v: %v", got["status"], got["error"])
	}
	if outs := s.do("GET", "/api/v1/workspaces/"+ws+"/outputs", "", 200)["items"].([]any); len(outs) != 1 || outs[0].(map[string]any)["value"] != float64(3) {
		t.Fatalf("the token file holds no JWT: outputs %v", outs)
	}
	log := s.logs(r, "apply")
	if !strings.Contains(log, "identity-file-ok") {
		t.Fatalf("apply log:\n%s", log)
	}
	if strings.Contains(log, "eyJ") {
		t.Fatalf("the token reached the log:\n%s", log)
	}
}
