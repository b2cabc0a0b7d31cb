// Package lambdatest serves the Lambda functions' tests: it opens the
// platform from a function's environment over the test database, calls the
// API in-process or over HTTP through a gateway with Lambda's payload
// limits, and reads recorded event payloads.
package lambdatest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

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

// PayloadLimit is a Lambda function's synchronous invocation limit, each
// way: an event or an answer larger than this never arrives.
const PayloadLimit = 6 << 20

// Gateway serves p's API over HTTP the way API Gateway's HTTP API and
// Lambda do: every request becomes an APIGatewayV2HTTPRequest event (its
// body base64-encoded) for the function's handler, and an event or an
// answer above PayloadLimit is refused as AWS refuses it (413 and 502).
type Gateway struct {
	*httptest.Server
	mu                          sync.Mutex
	largestEvent, largestAnswer int
	refused                     []string
}

// Figures are the largest event and answer the function saw, in bytes,
// and the requests that broke the limit.
func (g *Gateway) Figures() (largestEvent, largestAnswer int, refused []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.largestEvent, g.largestAnswer, slices.Clone(g.refused)
}

// NewGateway starts a Gateway in front of p; it closes with the test.
func NewGateway(t *testing.T, p *platform.Platform) *Gateway {
	t.Helper()
	g := &Gateway{}
	handler := p.HTTPLambda()
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ev := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "$default", RawPath: r.URL.Path, RawQueryString: r.URL.RawQuery,
			Headers: map[string]string{"host": r.Host, "x-forwarded-proto": "http"},
			Body:    base64.StdEncoding.EncodeToString(body), IsBase64Encoded: true,
		}
		for k, v := range r.Header {
			ev.Headers[strings.ToLower(k)] = strings.Join(v, ",")
		}
		ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = r.Method, r.URL.Path
		ev.RequestContext.Stage = "$default"
		raw, _ := json.Marshal(ev)
		if !g.fits(&g.largestEvent, len(raw), r) {
			http.Error(w, `{"message":"Request Entity Too Large"}`, http.StatusRequestEntityTooLarge)
			return
		}
		resp, err := handler(r.Context(), ev)
		if err != nil {
			http.Error(w, `{"message":"Internal Server Error"}`, http.StatusBadGateway)
			return
		}
		raw, _ = json.Marshal(resp)
		if !g.fits(&g.largestAnswer, len(raw), r) {
			http.Error(w, `{"message":"Internal Server Error"}`, http.StatusBadGateway)
			return
		}
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		for k, v := range resp.MultiValueHeaders {
			w.Header()[http.CanonicalHeaderKey(k)] = v
		}
		out := []byte(resp.Body)
		if resp.IsBase64Encoded {
			out, _ = base64.StdEncoding.DecodeString(resp.Body)
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(out)
	}))
	t.Cleanup(g.Close)
	return g
}

// fits records a payload's size and whether it is within PayloadLimit.
func (g *Gateway) fits(largest *int, size int, r *http.Request) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	*largest = max(*largest, size)
	if size > PayloadLimit {
		g.refused = append(g.refused, fmt.Sprintf("%s %s (%d bytes)", r.Method, r.URL.Path, size))
		return false
	}
	return true
}
