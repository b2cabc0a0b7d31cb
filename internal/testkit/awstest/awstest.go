// Package awstest starts real S3-, KMS-, SQS-, ECS- and Secrets Manager-API
// servers for tests and the benchmark: versitygw (a pinned Go tool, serving
// a folder over the S3 API) and moto's server for the others. Each process starts its own pair once, on
// loopback ports, and stops them when it exits.
package awstest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Credentials the servers accept; the AWS SDK reads them from the environment.
const (
	accessKey = "runplanetest"
	secretKey = "runplanetestsecret"
	region    = "us-east-1"
)

// Servers are running S3, KMS and SQS endpoints.
type Servers struct {
	S3Endpoint  string
	KMSEndpoint string
	// SQSEndpoint is moto's server too, ECSEndpoint moto's server behind a
	// proxy that corrects its answers' types (motoECS).
	SQSEndpoint, ECSEndpoint string
	// S3Root is the folder versitygw serves: bucket/key is a file under it.
	S3Root string
	// S3Meta is where versitygw keeps object metadata.
	S3Meta string
}

var (
	once    sync.Once
	servers Servers
	errOnce error
	stops   []func()
)

// Start returns the servers, starting them on first use, or fails the test.
func Start(t testing.TB) Servers {
	t.Helper()
	s, err := Launch()
	if err != nil {
		t.Fatalf("awstest: %v", err)
	}
	return s
}

// Launch returns the servers, starting them on first use. It sets the AWS
// credential and region variables so SDK clients in the process find them.
func Launch() (Servers, error) {
	once.Do(func() { servers, errOnce = start() })
	return servers, errOnce
}

// Stop ends the servers; call it from TestMain after the tests ran.
func Stop() {
	for _, s := range stops {
		s()
	}
}

func start() (Servers, error) {
	os.Setenv("AWS_ACCESS_KEY_ID", accessKey)
	os.Setenv("AWS_SECRET_ACCESS_KEY", secretKey)
	os.Setenv("AWS_REGION", region)
	dir, err := os.MkdirTemp("", "rp-awstest-")
	if err != nil {
		return Servers{}, err
	}
	stops = append(stops, func() { os.RemoveAll(dir) })
	s3Endpoint, err := startVersityGW(dir)
	if err != nil {
		return Servers{}, err
	}
	kmsEndpoint, err := startMoto(dir)
	if err != nil {
		return Servers{}, err
	}
	ecsEndpoint, err := startECSProxy(kmsEndpoint)
	if err != nil {
		return Servers{}, err
	}
	return Servers{S3Endpoint: s3Endpoint, KMSEndpoint: kmsEndpoint, SQSEndpoint: kmsEndpoint, ECSEndpoint: ecsEndpoint, S3Root: filepath.Join(dir, "s3"), S3Meta: filepath.Join(dir, "sidecar")}, nil
}

// startVersityGW builds the pinned versitygw tool and serves dir/s3.
func startVersityGW(dir string) (string, error) {
	bin := filepath.Join(dir, "versitygw")
	build := exec.Command("go", "build", "-o", bin, "github.com/versity/versitygw/cmd/versitygw")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building versitygw (a tool pinned in go.mod): %v\n%s", err, out)
	}
	root := filepath.Join(dir, "s3")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", err
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--access", accessKey, "--secret", secretKey, "--region", region, "--port", addr,
		"posix", "--sidecar", filepath.Join(dir, "sidecar"), root)
	if err := os.MkdirAll(filepath.Join(dir, "sidecar"), 0o700); err != nil {
		return "", err
	}
	logFile, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		return "", err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting versitygw: %w", err)
	}
	stops = append(stops, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := waitListening(addr, 20*time.Second); err != nil {
		log, _ := os.ReadFile(logFile.Name())
		return "", fmt.Errorf("versitygw did not start: %w\n%s", err, log)
	}
	return "http://" + addr, nil
}

var motoPort = regexp.MustCompile(`Running on http://127\.0\.0\.1:(\d+)`)

// startMoto runs moto's server, a KMS-API implementation, on a free port.
func startMoto(dir string) (string, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return "", errors.New("moto_server is not on PATH: the KMS tests need moto's server (Python package moto[server]) as their KMS-API endpoint")
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", "0")
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting moto_server: %w", err)
	}
	stops = append(stops, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var seen []string
		for sc.Scan() {
			if m := motoPort.FindStringSubmatch(sc.Text()); m != nil {
				port <- m[1]
				_, _ = io.Copy(io.Discard, stderr)
				return
			}
			seen = append(seen, sc.Text())
		}
		port <- "exited: " + strings.Join(seen, "\n")
	}()
	select {
	case p := <-port:
		if strings.HasPrefix(p, "exited: ") {
			return "", fmt.Errorf("moto_server did not start:\n%s", p)
		}
		return "http://127.0.0.1:" + p, nil
	case <-time.After(60 * time.Second):
		return "", errors.New("moto_server did not report its port within 60s")
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func awsConfig() aws.Config {
	return aws.Config{
		Region: region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}, nil
		}),
	}
}

// S3 returns a client for the S3 server.
func (s Servers) S3() *s3.Client {
	return s3.NewFromConfig(awsConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.S3Endpoint)
		o.UsePathStyle = true
	})
}

// KMS returns a client for the KMS server.
func (s Servers) KMS() *kms.Client {
	return kms.NewFromConfig(awsConfig(), func(o *kms.Options) { o.BaseEndpoint = aws.String(s.KMSEndpoint) })
}

// SQS returns a client for the SQS server.
func (s Servers) SQS() *sqs.Client {
	return sqs.NewFromConfig(awsConfig(), func(o *sqs.Options) { o.BaseEndpoint = aws.String(s.SQSEndpoint) })
}

// ECS returns a client for the ECS server.
func (s Servers) ECS() *ecs.Client {
	return ecs.NewFromConfig(awsConfig(), func(o *ecs.Options) { o.BaseEndpoint = aws.String(s.ECSEndpoint) })
}

// startECSProxy serves moto's ECS API through motoECS, for every client.
func startECSProxy(moto string) (string, error) {
	target, err := url.Parse(moto)
	if err != nil {
		return "", err
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = motoECS{http.DefaultTransport}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stops = append(stops, func() { _ = srv.Close() })
	return "http://" + ln.Addr().String(), nil
}

// motoECS corrects the one way moto's ECS answers differ from ECS's on the
// wire: a task's containers (RunTask, DescribeTasks) carry cpu and memory
// as JSON numbers where ECS sends strings, which the SDK refuses to decode.
type motoECS struct{ next http.RoundTripper }

var containerNumbers = regexp.MustCompile(`"(cpu|memory)": (\d+)`)

func (m motoECS) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := m.next.RoundTrip(req)
	target := req.Header.Get("X-Amz-Target")
	if err != nil || !(strings.HasSuffix(target, ".RunTask") || strings.HasSuffix(target, ".DescribeTasks")) {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	body = containerNumbers.ReplaceAll(body, []byte(`"$1": "$2"`))
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// TaskDefinition creates a cluster of its own for a test and registers a
// Fargate task definition in it; it returns both names.
func (s Servers) TaskDefinition(t testing.TB) (cluster, taskDefinition string) {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("rp-test-%d-%s", os.Getpid(), strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if _, err := s.ECS().CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
		t.Fatalf("create cluster: %v", err)
	}
	out, err := s.ECS().RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(name), RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		NetworkMode: ecstypes.NetworkModeAwsvpc, Cpu: aws.String("1024"), Memory: aws.String("2048"),
		// moto counts container memory, and answers container CPU as a number where ECS has a string.
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("agent"), Image: aws.String("runplane-agent:test"), Essential: aws.Bool(true),
			Memory: aws.Int32(2048)}},
	})
	if err != nil {
		t.Fatalf("register task definition: %v", err)
	}
	return name, aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

// Secret stores a Secrets Manager secret for a test and returns its ARN.
func (s Servers) Secret(t testing.TB, value string) string {
	t.Helper()
	client := secretsmanager.NewFromConfig(awsConfig(), func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(s.KMSEndpoint) })
	name := fmt.Sprintf("rp-test-%d-%s-%d", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
	out, err := client.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("create secret: %v", err)
	}
	return aws.ToString(out.ARN)
}

// DefaultNetwork returns a subnet and a security group of the ECS
// server's default VPC, where awsvpc tasks may be placed.
func (s Servers) DefaultNetwork(t testing.TB) (subnet, securityGroup string) {
	t.Helper()
	return s.ec2First(t, "DescribeSubnets", "subnetId"), s.ec2First(t, "DescribeSecurityGroups", "groupId")
}

// ec2First calls an EC2 query action and returns the first value of the
// element named field in its answer.
func (s Servers) ec2First(t testing.TB, action, field string) string {
	t.Helper()
	body := "Action=" + action + "&Version=2016-11-15"
	req, err := http.NewRequest("POST", s.ECSEndpoint+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ec2", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile("<" + field + ">([^<]+)</" + field + ">").FindSubmatch(answer)
	if m == nil {
		t.Fatalf("EC2 %s answered no %s: %d %s", action, field, resp.StatusCode, answer)
	}
	return string(m[1])
}

// Queue creates a new SQS queue for a test and returns its URL.
func (s Servers) Queue(t testing.TB) string {
	t.Helper()
	out, err := s.SQS().CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("rp-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-")))})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	return aws.ToString(out.QueueUrl)
}

var bucketSeq sync.Mutex
var bucketN int

// NewBucket creates a new empty bucket.
func (s Servers) NewBucket(ctx context.Context) (string, error) {
	bucketSeq.Lock()
	bucketN++
	name := fmt.Sprintf("rp-test-%d-%d", os.Getpid(), bucketN)
	bucketSeq.Unlock()
	_, err := s.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	return name, err
}

// NewKey creates a new symmetric KMS key and returns its id.
func (s Servers) NewKey(ctx context.Context) (string, error) {
	out, err := s.KMS().CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("runplane test")})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.KeyMetadata.KeyId), nil
}

// Bucket is NewBucket for a test.
func (s Servers) Bucket(t testing.TB) string {
	t.Helper()
	name, err := s.NewBucket(context.Background())
	if err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return name
}

// Key is NewKey for a test.
func (s Servers) Key(t testing.TB) string {
	t.Helper()
	id, err := s.NewKey(context.Background())
	if err != nil {
		t.Fatalf("create KMS key: %v", err)
	}
	return id
}
