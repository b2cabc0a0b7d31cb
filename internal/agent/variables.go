package agent

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/runplane/runplane/internal/agentapi"
)

// Files the plan's input variables are written to, beside the
// configuration: terraform loads *.auto.tfvars(.json) by itself. Plain
// values go in JSON, where terraform takes a string literally; HCL values
// are expressions.
const (
	plainVarsFile = "zz_runplane_variables.auto.tfvars.json"
	hclVarsFile   = "zz_runplane_variables.auto.tfvars"
)

// giveVariables hands the workspace's variables to terraform: input
// variables in the plan's tfvars files (an apply's are in its plan file),
// environment variables in every command's environment. It returns the
// sensitive values, for the log to redact.
func (e *execution) giveVariables(vars []agentapi.Variable, cfgDir string) ([]string, error) {
	plain := map[string]string{}
	var hcl strings.Builder
	var secrets []string
	for _, v := range vars {
		if v.Sensitive {
			secrets = append(secrets, v.Value)
		}
		switch {
		case v.Category == "env":
			e.environ = append(e.environ, v.Key+"="+v.Value)
		case e.job.Phase == agentapi.PhaseApply:
		case v.HCL:
			hcl.WriteString(v.Key + " = " + v.Value + "\n")
		default:
			plain[v.Key] = v.Value
		}
	}
	if len(plain) > 0 {
		body, err := json.Marshal(plain)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(cfgDir, plainVarsFile), body, 0o600); err != nil {
			return nil, err
		}
	}
	if hcl.Len() > 0 {
		if err := os.WriteFile(filepath.Join(cfgDir, hclVarsFile), []byte(hcl.String()), 0o600); err != nil {
			return nil, err
		}
	}
	return secrets, nil
}

// minRedacted is the shortest value the log redacts: shorter ones would
// blank out ordinary words and numbers, and are no secret worth the name.
const minRedacted = 4

// redactor replaces known sensitive values in the log with a mask. It is a
// backstop: terraform masks what the configuration declares sensitive.
type redactor struct {
	secrets [][]byte
}

var mask = []byte("***")

func newRedactor(values []string) *redactor {
	r := &redactor{}
	add := func(s string) {
		if len(s) >= minRedacted {
			r.secrets = append(r.secrets, []byte(s))
		}
	}
	for _, v := range values {
		add(v)
		// Terraform shows a multi-line value line by line (a heredoc).
		if strings.Contains(v, "\n") {
			for _, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); len(line) >= 8 {
					add(line)
				}
			}
		}
	}
	// Longest first, so a line of a value does not break a longer match.
	slices.SortFunc(r.secrets, func(a, b []byte) int { return len(b) - len(a) })
	return r
}

// pending is how many bytes at the end of buf must wait for the next
// write: the longest tail that begins some value, which the next write may
// complete. Output that cannot be the start of a value goes out at once,
// so a long value (a key, a token) does not hold the live log back.
func (r *redactor) pending(buf []byte) int {
	longest := 0
	for _, s := range r.secrets {
		from := max(0, len(buf)-len(s)+1)
		for i := from; i < len(buf) && len(buf)-i > longest; i++ {
			if buf[i] == s[0] && bytes.HasPrefix(s, buf[i:]) {
				longest = len(buf) - i
				break
			}
		}
	}
	return longest
}

// redact masks every known value in buf.
func (r *redactor) redact(buf []byte) []byte {
	for _, s := range r.secrets {
		if bytes.Contains(buf, s) {
			buf = bytes.ReplaceAll(buf, s, mask)
		}
	}
	return buf
}

// identityFile is the job's workload identity token's name in the job folder.
const identityFile = "identity.jwt"

// giveIdentity hands terraform the job's workload identity token: a file
// named by WORKLOAD_IDENTITY_TOKEN_FILE (not RUNPLANE_…: nothing of the
// platform's configuration reaches a run) and, when the workspace
// names an AWS role (an AWS_ROLE_ARN env variable), by
// AWS_WEB_IDENTITY_TOKEN_FILE, which the AWS provider reads to assume it.
func (e *execution) giveIdentity(vars []agentapi.Variable) (string, error) {
	token := e.job.WorkloadIdentityToken
	if token == "" {
		return "", nil
	}
	if err := os.WriteFile(filepath.Join(e.dir, identityFile), []byte(token), 0o600); err != nil {
		return "", err
	}
	path := e.box.root() + "/" + identityFile
	e.environ = append(e.environ, "WORKLOAD_IDENTITY_TOKEN_FILE="+path)
	for _, v := range vars {
		if v.Category == "env" && v.Key == "AWS_ROLE_ARN" {
			e.environ = append(e.environ, "AWS_WEB_IDENTITY_TOKEN_FILE="+path)
			break
		}
	}
	return token, nil
}
