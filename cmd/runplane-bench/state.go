package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/agent"
	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/testkit/awstest"
	"github.com/runplane/runplane/internal/testkit/serverproc"
)

// stateBench measures the state path on both storages against one database.
func stateBench(ctx context.Context, databaseURL, dir string) error {
	srv, err := awstest.Launch()
	if err != nil {
		return err
	}
	defer awstest.Stop()
	bucket, err := srv.NewBucket(ctx)
	if err != nil {
		return err
	}
	key, err := srv.NewKey(ctx)
	if err != nil {
		return err
	}
	storages := []struct {
		name    string
		storage platform.Storage
	}{
		{"embedded (folder + local key)", platform.Storage{DataDir: dir + "/state-embedded"}},
		{"S3 + KMS (versitygw + moto KMS)", platform.Storage{S3Bucket: bucket, S3Endpoint: srv.S3Endpoint, KMSKeyID: key, KMSEndpoint: srv.KMSEndpoint}},
	}
	bin, err := serverproc.Build(dir)
	if err != nil {
		return err
	}
	proxy := []string{bin, "agent", agent.StateProxyCommand}
	cryptoCost := decryptCost()
	fmt.Printf("state: 500 KB state read by another workspace's job credential (basic auth, keep-alive), %d reads after %d warm-up\n", *stateReads, *stateReads/10)
	fmt.Printf("%-34s %9s %9s %9s %11s %11s %12s %12s\n", "storage", "read p50", "read p95", "read p99", "write p50", "write p99", "50 MB read", "50 MB write")
	var direct []string
	for i, s := range storages {
		r, err := measureState(ctx, databaseURL, fmt.Sprintf("state-%d", i), s.storage, proxy)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Printf("%-34s %6.2f ms %6.2f ms %6.2f ms %8.2f ms %8.2f ms %7.0f MB/s %7.0f MB/s\n", s.name,
			ms(pct(r.reads, 50)), ms(pct(r.reads, 95)), ms(pct(r.reads, 99)), ms(pct(r.writes, 50)), ms(pct(r.writes, 99)), r.bigMBps, r.bigWriteMBps)
		fmt.Printf("%-34s %6.1f%% of read p50\n", "  of which GCM open + SHA-256", 100*float64(cryptoCost)/float64(pct(r.reads, 50)))
		for _, d := range r.direct {
			direct = append(direct, fmt.Sprintf("%-34s %s", s.name, d))
		}
	}
	fmt.Println("50 MB through the agent's state proxy (what terraform in an agent sees): straight to storage where it signs requests, else through the API")
	for _, d := range direct {
		fmt.Println(d)
	}
	fmt.Println()
	return nil
}

// decryptCost is the median time to open and verify a 500 KB sealed state
// in process: what encryption adds to a read once the data key is cached.
func decryptCost() time.Duration {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	doc := stateDoc("l", 1, 500<<10)
	sealed, _ := envelope.Seal(nil, key, []byte("version"), doc)
	var d []time.Duration
	for range 200 {
		c := bytes.Clone(sealed)
		start := time.Now()
		plain, err := envelope.Open(key, []byte("version"), c)
		sum := sha256.Sum256(plain)
		d = append(d, time.Since(start))
		if err != nil || sum == [32]byte{} {
			panic("decrypt cost: " + fmt.Sprint(err))
		}
	}
	return pct(d, 50)
}

type stateResult struct {
	reads, writes         []time.Duration
	bigMBps, bigWriteMBps float64
	// direct: the 50 MB figures through the state proxy.
	direct []string
}

func measureState(ctx context.Context, databaseURL, orgName string, storage platform.Storage, proxy []string) (stateResult, error) {
	const admin = "bench-admin"
	p, err := platform.Open(ctx, platform.Config{DatabaseURL: databaseURL, AdminToken: admin, Storage: storage})
	if err != nil {
		return stateResult{}, err
	}
	defer p.Close()
	base, stop, err := serve(p.Handler)
	if err != nil {
		return stateResult{}, err
	}
	defer stop()
	c := &client{base: base, token: admin, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
	c.must("POST", "/api/v1/organizations", `{"name":"`+orgName+`"}`)
	c.token = c.must("POST", "/api/v1/organizations/"+orgName+"/tokens", `{"description":"bench","role":"admin"}`)["token"].(string)
	consumer := c.must("POST", "/api/v1/organizations/"+orgName+"/workspaces", `{"name":"app"}`)["id"].(string)
	producer := c.must("POST", "/api/v1/organizations/"+orgName+"/workspaces", `{"name":"network","remote_state_consumers":["`+consumer+`"]}`)["id"].(string)

	orgs := org.NewService(p.Pool, admin)
	principal, err := orgs.Authenticate(ctx, c.token)
	if err != nil {
		return stateResult{}, err
	}
	consumerID := uuid.MustParse(consumer)
	job, err := orgs.CreateScopedToken(ctx, principal.OrgID, "bench job", org.RoleWrite, org.TokenScope{WorkspaceID: &consumerID})
	if err != nil {
		return stateResult{}, err
	}

	stateURL := base + "/api/v1/workspaces/" + producer + "/state"
	lineage := uuid.NewString()
	if err := backendCall(c.http, "LOCK", stateURL, c.token, []byte(`{"ID":"bench"}`)); err != nil {
		return stateResult{}, err
	}
	var res stateResult
	for serial := int64(1); serial <= int64(*stateWrites); serial++ {
		doc := stateDoc(lineage, serial, 500<<10)
		start := time.Now()
		if err := backendCall(c.http, "POST", stateURL+"?ID=bench", c.token, doc); err != nil {
			return stateResult{}, err
		}
		res.writes = append(res.writes, time.Since(start))
	}
	for i := range *stateReads + *stateReads/10 {
		start := time.Now()
		n, err := backendGet(c.http, stateURL, job.Secret)
		if err != nil {
			return stateResult{}, err
		}
		if n < 500<<10 {
			return stateResult{}, fmt.Errorf("read %d bytes, want at least 500 KiB", n)
		}
		if i >= *stateReads/10 {
			res.reads = append(res.reads, time.Since(start))
		}
	}
	big := stateDoc(lineage, int64(*stateWrites)+1, 49_900_000)
	write, read, err := bigState(c.http, stateURL, c.token, job.Secret, big)
	if err != nil {
		return stateResult{}, err
	}
	res.bigWriteMBps, res.bigMBps = write, read
	started, err := agent.StartStateProxy(proxy)
	if err != nil {
		return stateResult{}, err
	}
	defer started.Stop()
	url, err := started.Configure(stateURL, c.token)
	if err != nil {
		return stateResult{}, err
	}
	// The proxy reads with the writer's credential; the consumer's job
	// credential is for the direct reads above.
	write, read, err = bigState(c.http, url, c.token, c.token, stateDoc(lineage, int64(*stateWrites)+2, 49_900_000))
	if err != nil {
		return stateResult{}, err
	}
	res.direct = append(res.direct, fmt.Sprintf("write %4.0f MB/s, read %4.0f MB/s", write, read))
	return res, backendCall(c.http, "UNLOCK", stateURL, c.token, []byte(`{"ID":"bench"}`))
}

// bigState writes doc at url (holding the lock "bench") and reads it back
// five times, answering both throughputs in MB/s.
func bigState(hc *http.Client, url, writer, reader string, doc []byte) (float64, float64, error) {
	start := time.Now()
	if err := backendCall(hc, "POST", url+"?ID=bench", writer, doc); err != nil {
		return 0, 0, err
	}
	write := float64(len(doc)) / 1e6 / time.Since(start).Seconds()
	const reads = 5
	start = time.Now()
	for range reads {
		n, err := backendGet(hc, url, reader)
		if err != nil {
			return 0, 0, err
		}
		if n != len(doc) {
			return 0, 0, fmt.Errorf("50 MB read returned %d bytes, want %d", n, len(doc))
		}
	}
	return write, float64(reads*len(doc)) / 1e6 / time.Since(start).Seconds(), nil
}

func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

func backendCall(hc *http.Client, method, url, token string, body []byte) error {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth("runplane", token)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	return nil
}

func backendGet(hc *http.Client, url, token string) (int, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth("runplane", token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return int(n), err
}

// stateDoc is a Terraform state of about size bytes: terraform_data
// resources with random inputs, as incompressible as real attributes.
func stateDoc(lineage string, serial int64, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n  \"version\": 4,\n  \"terraform_version\": \"1.11.4\",\n  \"serial\": %d,\n  \"lineage\": %q,\n", serial, lineage)
	b.WriteString("  \"outputs\": {\n    \"cidr\": {\"value\": \"10.0.0.0/16\", \"type\": \"string\"}\n  },\n  \"resources\": [\n")
	random := make([]byte, 400)
	for i := 0; b.Len() < size-200; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		_, _ = rand.Read(random)
		fmt.Fprintf(&b, `    {"mode": "managed", "type": "terraform_data", "name": "r%d", "provider": "provider[\"terraform.io/builtin/terraform\"]", "instances": [{"schema_version": 0, "attributes": {"id": %q, "input": {"value": %q, "type": "string"}, "output": null, "triggers_replace": null}}]}`,
			i, uuid.NewString(), hex.EncodeToString(random))
	}
	b.WriteString("\n  ],\n  \"check_results\": null\n}\n")
	return b.Bytes()
}
