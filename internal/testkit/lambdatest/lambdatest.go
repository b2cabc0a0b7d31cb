// Package lambdatest serves the Lambda functions' tests: it opens the
// platform from a function's environment over the test database, calls the
// API in-process, and reads recorded event payloads.
package lambdatest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/testkit/pgtest"
)

// AdminToken is the site-admin token Open configures.
const AdminToken = "lambda-admin-token"

// Open opens the platform as a function does, from env plus the test
// database, AdminToken and a data folder; it closes with the test.
func Open(t *testing.T, env map[string]string) *platform.Platform {
	t.Helper()
	all := map[string]string{"DATABASE_URL": pgtest.URL(t), "RUNPLANE_ADMIN_TOKEN": AdminToken, "RUNPLANE_DATA_DIR": t.TempDir()}
	for k, v := range env {
		all[k] = v
	}
	p, err := platform.OpenFromEnv(context.Background(), func(k string) string { return all[k] }, platform.Needs{Database: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// Call sends one request to the platform's API and decodes the JSON
// answer, failing the test unless it is a success.
func Call(t *testing.T, p *platform.Platform, method, path, token, body string) map[string]any {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	p.Handler.ServeHTTP(rec, req)
	var out map[string]any
	if rec.Code/100 != 2 || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
		t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	return out
}

// Event decodes a recorded event payload from a file into ev.
func Event(t *testing.T, file string, ev any) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, ev); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// Tarball is a .tar.gz of files, as a configuration upload.
func Tarball(files map[string]string) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// Configure uploads a one-resource configuration to a workspace, so runs
// may be created on it.
func Configure(t *testing.T, p *platform.Platform, workspaceID, token string) {
	t.Helper()
	Call(t, p, "POST", "/api/v1/workspaces/"+workspaceID+"/configuration-versions", token,
		string(Tarball(map[string]string{"main.tf": `resource "terraform_data" "x" {}`})))
}
