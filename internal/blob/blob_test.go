package blob_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/runplane/runplane/internal/blob"
	"github.com/runplane/runplane/internal/testkit/awstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	awstest.Stop()
	os.Exit(code)
}

func stores(t *testing.T) map[string]blob.Store {
	folder, err := blob.NewFolder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := awstest.Start(t)
	return map[string]blob.Store{"folder": folder, "s3": blob.NewS3(srv.S3(), srv.Bucket(t))}
}

// A second put to a key is refused and the first object stays.
func TestPutNeverOverwrites(t *testing.T) {
	t.Parallel()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if err := s.Put(ctx, "k/once", []byte("first")); err != nil {
				t.Fatal(err)
			}
			if err := s.Put(ctx, "k/once", []byte("second")); !errors.Is(err, blob.ErrExists) {
				t.Fatalf("second put: got %v, want ErrExists", err)
			}
			if got, err := s.Get(ctx, "k/once", 5); err != nil || string(got) != "first" {
				t.Fatalf("object after refused put: %q %v", got, err)
			}
		})
	}
}

// Of many concurrent puts to one key in the folder store exactly one wins,
// and the stored object is the winner's, whole. (S3 makes the same promise
// for If-None-Match; versitygw, the test stand-in, checks and writes in two
// steps, so its concurrent behaviour is not S3's and is not tested here.)
func TestConcurrentPutsOneWins(t *testing.T) {
	t.Parallel()
	s, err := blob.NewFolder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 16
	var wins atomic.Int32
	var winner atomic.Value
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
			err := s.Put(ctx, "k/object", data)
			switch {
			case err == nil:
				wins.Add(1)
				winner.Store(data)
			case !errors.Is(err, blob.ErrExists):
				t.Errorf("put %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d puts succeeded, want 1", wins.Load())
	}
	got, err := s.Get(ctx, "k/object", 64<<10)
	if err != nil || !bytes.Equal(got, winner.Load().([]byte)) {
		t.Fatalf("stored object is not the winner's: %v", err)
	}
	if _, err := s.Get(ctx, "k/missing", 0); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("missing object: %v", err)
	}
}

func TestFolderRefusesEscapingKeys(t *testing.T) {
	t.Parallel()
	folder, err := blob.NewFolder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"../x", "/etc/passwd", "a/../../b", ""} {
		if err := folder.Put(context.Background(), key, []byte("x")); err == nil {
			t.Errorf("key %q accepted", key)
		}
	}
}
