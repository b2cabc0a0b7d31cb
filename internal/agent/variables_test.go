package agent

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runplane/runplane/internal/agentapi"
)

// writeChunked writes data to a log stream in the given chunk sizes, as
// terraform's pipe delivers it, and returns what the stream kept.
func writeChunked(l *logStream, data []byte, sizes func() int) []byte {
	for len(data) > 0 {
		n := min(len(data), max(1, sizes()))
		_, _ = l.Write(data[:n])
		data = data[n:]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keep(l.raw)
	l.raw = nil
	return l.pending
}

// A sensitive value never reaches the log, however terraform's output is
// cut into writes, and everything else arrives unchanged.
func TestTheLogMasksSensitiveValuesAcrossWrites(t *testing.T) {
	t.Parallel()
	secret := "hunter2-5f3a9c"
	lines := "line one\n  + input = \"" + secret + "\"\nsecret again:" + secret + secret + "\nshort: abc\n"
	want := strings.ReplaceAll(lines, secret, "***")
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		l := &logStream{}
		l.redact([]string{secret, "abc"}) // "abc" is too short to mask
		got := writeChunked(l, []byte(lines), func() int { return 1 + r.IntN(20) })
		if string(got) != want {
			t.Fatalf("kept %q, want %q", got, want)
		}
	}
}

// A multi-line value (a credentials file) is masked line by line too, as
// terraform prints it in a heredoc.
func TestTheLogMasksTheLinesOfAMultiLineValue(t *testing.T) {
	t.Parallel()
	key := "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"
	l := &logStream{}
	l.redact([]string{key})
	out := "      + content = <<-EOT\n            -----BEGIN KEY-----\n            MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n            -----END KEY-----\n        EOT\n"
	got := writeChunked(l, []byte(out), func() int { return 7 })
	if bytes.Contains(got, []byte("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC")) {
		t.Fatalf("a line of the value reached the log: %s", got)
	}
}

// Input variables go to the plan's tfvars files — plain values literally,
// HCL values as expressions — and environment variables to every command;
// an apply gets only the environment (its inputs are in its plan file).
func TestVariablesReachTerraform(t *testing.T) {
	t.Parallel()
	vars := []agentapi.Variable{
		{Key: "region", Value: `eu-west-1 ${not.a.template}`, Category: "terraform"},
		{Key: "tags", Value: `{ team = "net" }`, Category: "terraform", HCL: true},
		{Key: "AWS_SECRET_ACCESS_KEY", Value: "s3cr3t-key", Category: "env", Sensitive: true},
	}
	for _, phase := range []string{agentapi.PhasePlan, agentapi.PhaseApply} {
		dir := t.TempDir()
		e := &execution{job: &agentapi.Job{Phase: phase}, environ: []string{"PATH=/bin"}}
		secrets, err := e.giveVariables(vars, dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(secrets) != 1 || secrets[0] != "s3cr3t-key" {
			t.Fatalf("%s: secrets %v", phase, secrets)
		}
		if e.environ[len(e.environ)-1] != "AWS_SECRET_ACCESS_KEY=s3cr3t-key" {
			t.Fatalf("%s: environment %v", phase, e.environ)
		}
		plain, perr := os.ReadFile(filepath.Join(dir, plainVarsFile))
		hcl, herr := os.ReadFile(filepath.Join(dir, hclVarsFile))
		if phase == agentapi.PhaseApply {
			if perr == nil || herr == nil {
				t.Fatal("an apply got tfvars files")
			}
			continue
		}
		var got map[string]string
		if err := json.Unmarshal(plain, &got); err != nil || got["region"] != vars[0].Value || len(got) != 1 {
			t.Fatalf("plain tfvars %s: %v", plain, err)
		}
		if string(hcl) != "tags = { team = \"net\" }\n" || herr != nil {
			t.Fatalf("hcl tfvars %q: %v", hcl, herr)
		}
	}
}

// Fuzzing: whatever the output and however it is cut, no sensitive value
// survives in the log.
func FuzzTheLogNeverShowsASecret(f *testing.F) {
	f.Add([]byte("plan: + input = \"TOPSECRET\"\n"), uint8(3))
	f.Add([]byte("TOPSECRETTOPSECRET"), uint8(1))
	f.Add([]byte("TOPSECRTOPSECRET and p4ssw0rd-xyz"), uint8(5))
	f.Fuzz(func(t *testing.T, out []byte, chunk uint8) {
		secrets := []string{"TOPSECRET", "p4ssw0rd-xyz"}
		l := &logStream{}
		l.redact(secrets)
		got := writeChunked(l, out, func() int { return int(chunk%32) + 1 })
		for _, s := range secrets {
			if bytes.Contains(got, []byte(s)) {
				t.Fatalf("%q survived in %q", s, got)
			}
		}
	})
}

// Output that cannot begin a sensitive value is kept at once, however long
// the values are (a workload identity token, a private key): the live log
// waits only on a tail that may be a value's start.
func TestTheLogHoldsBackOnlyWhatMayStartASecret(t *testing.T) {
	t.Parallel()
	l := &logStream{}
	token := "eyJ" + strings.Repeat("k", 700)
	l.redact([]string{token})
	line := "terraform_data.second: Provisioning with 'local-exec'...\n"
	_, _ = l.Write([]byte(line))
	if got := string(l.pending); got != line {
		t.Fatalf("kept %q of a line unrelated to the token", got)
	}
	_, _ = l.Write([]byte("value: eyJkk"))
	if got := string(l.pending); got != line+"value: " {
		t.Fatalf("kept %q; the token's possible start must wait", got)
	}
	_, _ = l.Write([]byte(token[5:] + " done\n"))
	if got := string(l.pending); strings.Contains(got, "kkkk") || !strings.HasSuffix(got, "value: *** done\n") {
		t.Fatalf("kept %q", got)
	}
}
