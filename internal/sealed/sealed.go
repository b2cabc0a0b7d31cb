package sealed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/blob"
	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/fault"
)

// ErrCorrupt: a stored object failed its integrity checks.
var ErrCorrupt = fault.New(fault.Corrupt, "state_corrupt", "stored object failed its integrity check; the stored bytes do not match what was written, nothing was served")

// Object is what the caller records about a stored object.
type Object struct {
	ID         uuid.UUID
	BlobKey    string
	SHA256     []byte
	Size       int64
	KeyID      string
	WrappedKey []byte
}

// Store seals objects into a blob store with data keys from a provider.
type Store struct {
	blobs blob.Store
	keys  envelope.Provider
}

// New returns a Store.
func New(blobs blob.Store, keys envelope.Provider) *Store { return &Store{blobs: blobs, keys: keys} }

// Put seals data under a new data key bound to ec and stores it as blobKey.
// It also returns the data key, so the caller may seal small companions
// (such as a state's outputs) under it before forgetting it.
func (s *Store) Put(ctx context.Context, id uuid.UUID, blobKey string, ec envelope.Context, data []byte) (Object, []byte, error) {
	dk, err := s.keys.GenerateDataKey(ctx, ec)
	if err != nil {
		return Object{}, nil, err
	}
	sealed, err := envelope.Seal(make([]byte, 0, len(data)+envelope.Overhead), dk.Plaintext, id[:], data)
	if err != nil {
		return Object{}, nil, err
	}
	if err := s.blobs.Put(ctx, blobKey, sealed); err != nil {
		return Object{}, nil, err
	}
	sum := sha256.Sum256(data)
	return Object{
		ID: id, BlobKey: blobKey, SHA256: sum[:], Size: int64(len(data)), KeyID: s.keys.KeyID(), WrappedKey: dk.Wrapped,
	}, dk.Plaintext, nil
}

// DataKey unwraps an object's data key (cached by the provider when it is a Cache).
func (s *Store) DataKey(ctx context.Context, o Object, ec envelope.Context) ([]byte, error) {
	if o.KeyID != s.keys.KeyID() {
		return nil, fmt.Errorf("object %s was encrypted under key %q but this server uses %q", o.ID, o.KeyID, s.keys.KeyID())
	}
	key, err := s.keys.Decrypt(ctx, o.WrappedKey, ec)
	if err != nil {
		return nil, fmt.Errorf("object %s: %w", o.ID, err)
	}
	return key, nil
}

// Get fetches, opens and verifies an object.
func (s *Store) Get(ctx context.Context, o Object, ec envelope.Context) ([]byte, error) {
	key, err := s.DataKey(ctx, o, ec)
	if err != nil {
		return nil, err
	}
	data, err := s.blobs.Get(ctx, o.BlobKey, o.Size+envelope.Overhead)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, corrupt(ctx, o, err)
	}
	if err != nil {
		return nil, err
	}
	plain, err := envelope.Open(key, o.ID[:], data)
	if err == nil {
		if sum := sha256.Sum256(plain); !bytes.Equal(sum[:], o.SHA256) || int64(len(plain)) != o.Size {
			err = errors.New("SHA-256 or size differs from the recorded one")
		}
	}
	if err != nil {
		return nil, corrupt(ctx, o, err)
	}
	return plain, nil
}

func corrupt(ctx context.Context, o Object, err error) error {
	slog.ErrorContext(ctx, "stored object failed its integrity check", "object", o.ID, "blob", o.BlobKey, "err", err)
	return fmt.Errorf("%w: object %s", ErrCorrupt, o.ID)
}

// Key is a data key for sealing many small pieces (a log's chunks) with
// envelope.Seal: the caller keeps ID and Wrapped, and Plaintext only while
// it seals.
type Key struct {
	ID        string
	Wrapped   []byte
	Plaintext []byte
}

// NewKey makes a data key bound to ec.
func (s *Store) NewKey(ctx context.Context, ec envelope.Context) (Key, error) {
	dk, err := s.keys.GenerateDataKey(ctx, ec)
	if err != nil {
		return Key{}, err
	}
	return Key{ID: s.keys.KeyID(), Wrapped: dk.Wrapped, Plaintext: dk.Plaintext}, nil
}

// UnwrapKey returns the plaintext of a key NewKey made.
func (s *Store) UnwrapKey(ctx context.Context, keyID string, wrapped []byte, ec envelope.Context) ([]byte, error) {
	return s.DataKey(ctx, Object{KeyID: keyID, WrappedKey: wrapped}, ec)
}
