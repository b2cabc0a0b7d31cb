package envelope_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/envelope/awskms"
	"github.com/runplane/runplane/internal/testkit/awstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	awstest.Stop()
	os.Exit(code)
}

func providers(t *testing.T) map[string]envelope.Provider {
	local, err := envelope.OpenLocalKey(filepath.Join(t.TempDir(), "keys", "state.key"))
	if err != nil {
		t.Fatal(err)
	}
	srv := awstest.Start(t)
	return map[string]envelope.Provider{"local": local, "kms": awskms.New(srv.KMS(), srv.Key(t))}
}

// A data key unwraps only under the context it was made for, and a sealed
// object opens only with its key and its additional data.
func TestKeysAndSealsAreBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, p := range providers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ec := envelope.Context{"runplane:organization": "o1", "runplane:workspace": "w1"}
			dk, err := p.GenerateDataKey(ctx, ec)
			if err != nil || len(dk.Plaintext) != 32 || bytes.Contains(dk.Wrapped, dk.Plaintext) {
				t.Fatalf("data key: %v", err)
			}
			key, err := p.Decrypt(ctx, dk.Wrapped, ec)
			if err != nil || !bytes.Equal(key, dk.Plaintext) {
				t.Fatalf("unwrap: %v", err)
			}
			other := envelope.Context{"runplane:organization": "o1", "runplane:workspace": "w2"}
			if _, err := p.Decrypt(ctx, dk.Wrapped, other); err == nil {
				t.Fatal("data key unwrapped under another workspace's context")
			}
			sealed, err := envelope.Seal(nil, key, []byte("version-1"), []byte("secret state"))
			if err != nil || bytes.Contains(sealed, []byte("secret state")) {
				t.Fatalf("seal: %v", err)
			}
			if _, err := envelope.Open(key, []byte("version-2"), bytes.Clone(sealed)); !errors.Is(err, envelope.ErrTampered) {
				t.Fatalf("opened under another name: %v", err)
			}
			for i := range sealed {
				c := bytes.Clone(sealed)
				c[i] ^= 0x80
				if _, err := envelope.Open(key, []byte("version-1"), c); !errors.Is(err, envelope.ErrTampered) {
					t.Fatalf("byte %d flipped and still opened", i)
				}
			}
			plain, err := envelope.Open(key, []byte("version-1"), sealed)
			if err != nil || string(plain) != "secret state" {
				t.Fatalf("open: %q %v", plain, err)
			}
		})
	}
}

type countingProvider struct {
	envelope.Provider
	decrypts int
}

func (c *countingProvider) Decrypt(ctx context.Context, w []byte, ec envelope.Context) ([]byte, error) {
	c.decrypts++
	return c.Provider.Decrypt(ctx, w, ec)
}

func TestCacheSkipsTheProviderUntilExpiry(t *testing.T) {
	t.Parallel()
	local, err := envelope.OpenLocalKey(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingProvider{Provider: local}
	cache := envelope.NewCache(counting, 50*time.Millisecond, 10)
	ctx := context.Background()
	ec := envelope.Context{"a": "b"}
	dk, err := local.GenerateDataKey(ctx, ec)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if k, err := cache.Decrypt(ctx, dk.Wrapped, ec); err != nil || !bytes.Equal(k, dk.Plaintext) {
			t.Fatal(err)
		}
	}
	if counting.decrypts != 1 {
		t.Fatalf("provider asked %d times, want 1", counting.decrypts)
	}
	if _, err := cache.Decrypt(ctx, dk.Wrapped, envelope.Context{"a": "c"}); err == nil {
		t.Fatal("cache answered for another context")
	}
	time.Sleep(60 * time.Millisecond)
	if _, err := cache.Decrypt(ctx, dk.Wrapped, ec); err != nil || counting.decrypts != 3 {
		t.Fatalf("after expiry: %v, %d provider calls", err, counting.decrypts)
	}
}
