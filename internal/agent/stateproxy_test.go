package agent

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/runplane/runplane/internal/agentapi"
)

// The state proxy answers only the job's credential: the terraform of other
// jobs on the same host reaches its loopback port too. A refused caller
// never reaches the server.
func TestStateProxyAnswersOnlyTheJobsCredential(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if _, pw, _ := r.BasicAuth(); pw != "job-credential" {
			t.Errorf("the server got credential %q", pw)
		}
		_, _ = io.WriteString(w, `{"version":4}`)
	}))
	defer up.Close()
	p := httptest.NewServer((&stateProxy{upstream: up.URL + "/state", credential: "job-credential", http: up.Client()}).handler())
	defer p.Close()
	get := func(password string) int {
		req, _ := http.NewRequest("GET", p.URL+"/state", nil)
		if password != "" {
			req.SetBasicAuth("runplane", password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, pw := range []string{"", "another-jobs-credential", "job-credentia"} {
		if st := get(pw); st != http.StatusUnauthorized {
			t.Fatalf("password %q: %d, want 401", pw, st)
		}
	}
	if calls.Load() != 0 {
		t.Fatalf("refused callers reached the server %d times", calls.Load())
	}
	if st := get("job-credential"); st != 200 || calls.Load() != 1 {
		t.Fatalf("the job's terraform: %d after %d calls", st, calls.Load())
	}
}

// A large state posted to a server whose storage takes objects through
// the API only (runplane server's folder) goes through the API, with the
// lock ID and terraform's checksum header.
func TestStateProxyFallsBackToTheAPI(t *testing.T) {
	t.Parallel()
	var inline []byte
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "POST" && r.URL.Path == "/state/objects":
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, `{"error":{"code":"`+agentapi.CodeNoDirectTransfer+`"}}`)
		case r.Method == "POST" && r.URL.Path == "/state" && r.URL.Query().Get("ID") == "lock-1" && r.Header.Get("Content-MD5") == "md5":
			inline, _ = io.ReadAll(r.Body)
			_, _ = io.WriteString(w, `{}`)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL)
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer up.Close()
	p := httptest.NewServer((&stateProxy{upstream: up.URL + "/state", credential: "c", http: up.Client()}).handler())
	defer p.Close()
	big := []byte(`{"version":4,"pad":"` + strings.Repeat("x", agentapi.LargeObject) + `"}`)
	req, _ := http.NewRequest("POST", p.URL+"/state?ID=lock-1", bytes.NewReader(big))
	req.SetBasicAuth("runplane", "c")
	req.Header.Set("Content-MD5", "md5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(inline, big) {
		t.Fatalf("status %d, %d of %d bytes went through the API", resp.StatusCode, len(inline), len(big))
	}
}
