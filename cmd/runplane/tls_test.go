package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runplane/runplane/internal/testkit/pgtest"
)

// selfSigned writes a certificate for 127.0.0.1 and localhost and its key,
// as an operator's local setup would, and returns their paths and a pool
// that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// With RUNPLANE_TLS_CERT_FILE and RUNPLANE_TLS_KEY_FILE the server speaks
// HTTPS only: the API, runs its own agents finish (they reach it over
// loopback), and the user's terraform using the state backend with the
// certificate trusted through SSL_CERT_FILE. A plain HTTP request is
// refused, and half a configuration stops the start with a clear error.
func TestServerSpeaksHTTPS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, roots := selfSigned(t)
	s := startServerWith(t, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}, "terraform",
		"RUNPLANE_TLS_CERT_FILE="+certFile, "RUNPLANE_TLS_KEY_FILE="+keyFile)
	base := s.base
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("the server announced %s, want https", base)
	}

	ws := s.workspace("net", true, map[string]string{"main.tf": `resource "terraform_data" "x" { input = "tls" }`})
	s.wait(s.run(ws, ""), 2*time.Minute, "applied")

	// The user's own terraform, its state in a second workspace over HTTPS.
	mine := s.do("POST", "/api/v1/organizations/acme/workspaces", `{"name":"laptop"}`, 201)["id"].(string)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`
terraform {
  backend "http" {}
}
resource "terraform_data" "y" { input = "from the laptop" }
`), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := base + "/api/v1/workspaces/" + mine + "/state"
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TF_IN_AUTOMATION=1", "TF_INPUT=0", "CHECKPOINT_DISABLE=1",
		"TF_CLI_CONFIG_FILE=" + filepath.Join(dir, "none.tfrc"), "SSL_CERT_FILE=" + certFile,
		"TF_HTTP_ADDRESS=" + addr, "TF_HTTP_LOCK_ADDRESS=" + addr, "TF_HTTP_UNLOCK_ADDRESS=" + addr,
		"TF_HTTP_USERNAME=runplane", "TF_HTTP_PASSWORD=" + s.token, "TF_HTTP_RETRY_MAX=0"}
	for _, args := range [][]string{{"init", "-no-color"}, {"apply", "-auto-approve", "-no-color"}} {
		cmd := exec.Command("terraform", args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("terraform %s over HTTPS: %v\n%s", args[0], err, out)
		}
	}
	if v := s.do("GET", "/api/v1/workspaces/"+mine+"/state-versions", "", 200)["items"].([]any); len(v) != 1 {
		t.Fatalf("state versions of the laptop's workspace: %v", v)
	}

	resp, err := http.Get("http://" + strings.TrimPrefix(base, "https://") + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("plain HTTP answered %d on the HTTPS port", resp.StatusCode)
		}
	}

	half := exec.Command(binary, "server")
	half.Env = append(os.Environ(), "RUNPLANE_DATA_DIR="+t.TempDir(), "RUNPLANE_ADDR=127.0.0.1:0",
		"DATABASE_URL="+pgtest.URL(t), "RUNPLANE_AGENT_POOL_SIZE=0", "RUNPLANE_TLS_CERT_FILE="+certFile)
	out, err := half.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "RUNPLANE_TLS_KEY_FILE") {
		t.Fatalf("a certificate without its key: %v\n%s", err, out)
	}
}
