package sealed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/agentapi"
	"github.com/runplane/runplane/internal/blob"
	"github.com/runplane/runplane/internal/envelope"
	"github.com/runplane/runplane/internal/fault"
)

// ErrCorrupt: a stored object failed its integrity checks.
var ErrCorrupt = fault.New(fault.Corrupt, "state_corrupt", "stored object failed its integrity check; the stored bytes do not match what was written, nothing was served")

// ErrMissing: a recorded object is not in blob storage. Get's error is
// ErrCorrupt too; a caller whose objects may expire (logs, plan files)
// tells the two apart.
var ErrMissing = errors.New("stored object is missing")

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

// KeyID names the master key this store seals under.
func (s *Store) KeyID() string { return s.keys.KeyID() }

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
		return nil, fmt.Errorf("%w (%w)", corrupt(ctx, o, err), ErrMissing)
	}
	if err != nil {
		return nil, err
	}
	plain, err := open(key, o, data)
	if err != nil {
		return nil, corrupt(ctx, o, err)
	}
	return plain, nil
}

// open opens o's sealed bytes in place with its data key and checks them
// against o's recorded size and SHA-256.
func open(key []byte, o Object, sealed []byte) ([]byte, error) {
	plain, err := envelope.Open(key, o.ID[:], sealed)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(plain); !bytes.Equal(sum[:], o.SHA256) || int64(len(plain)) != o.Size {
		return nil, fmt.Errorf("%d bytes with SHA-256 %x, recorded as %d with %x", len(plain), sum, o.Size, o.SHA256)
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

// ErrNoDirectTransfer: the blob store cannot sign requests (a folder), so
// objects go through the API.
var ErrNoDirectTransfer = fault.New(fault.Conflict, agentapi.CodeNoDirectTransfer, "this server's storage takes objects through the API only; send the bytes in the request")

// ErrBadUpload: a committed upload is missing, or does not open with the
// key and match the size and SHA-256 its committer declared.
var ErrBadUpload = fault.New(fault.Invalid, "bad_upload", "the uploaded object is missing or does not match what was committed (its key, size or SHA-256)")

// grantTTL bounds a signed request: long enough for 50 MB on a slow link.
const grantTTL = 15 * time.Minute

// GrantPut makes a data key bound to ec and a signed request to create
// blobKey with exactly the sealed size of size bytes: the client seals and
// uploads itself, then commits through Adopt.
func (s *Store) GrantPut(ctx context.Context, id uuid.UUID, blobKey string, ec envelope.Context, size int64) (agentapi.ObjectUpload, error) {
	signer, ok := s.blobs.(blob.Presigner)
	if !ok {
		return agentapi.ObjectUpload{}, ErrNoDirectTransfer
	}
	dk, err := s.keys.GenerateDataKey(ctx, ec)
	if err != nil {
		return agentapi.ObjectUpload{}, err
	}
	req, err := signer.PresignPut(ctx, blobKey, agentapi.SealedSize(size), grantTTL)
	if err != nil {
		return agentapi.ObjectUpload{}, err
	}
	return agentapi.ObjectUpload{
		ObjectID: id, Method: req.Method, URL: req.URL, Header: req.Header, Size: size,
		DataKey: dk.Plaintext, WrappedKey: dk.Wrapped, ExpiresAt: time.Now().Add(grantTTL).UTC(),
	}, nil
}

// Adopt takes an object a client sealed and uploaded under a GrantPut: it
// unwraps the committed key under ec (a key made for another workspace
// does not unwrap), opens the object and checks the declared size and
// SHA-256. It returns the object to record, its plaintext for the caller's
// own checks, and the data key.
func (s *Store) Adopt(ctx context.Context, id uuid.UUID, blobKey string, ec envelope.Context, c agentapi.ObjectCommit) (Object, []byte, []byte, error) {
	sum, err := hex.DecodeString(c.SHA256)
	if err != nil || len(sum) != sha256.Size || c.Size < 0 {
		return Object{}, nil, nil, fmt.Errorf("%w: sha256 must be 64 hexadecimal digits and size not negative", ErrBadUpload)
	}
	o := Object{ID: id, BlobKey: blobKey, SHA256: sum, Size: c.Size, KeyID: s.keys.KeyID(), WrappedKey: c.WrappedKey}
	key, err := s.keys.Decrypt(ctx, c.WrappedKey, ec)
	if err != nil {
		slog.WarnContext(ctx, "committed object's key does not unwrap", "object", id, "err", err)
		return Object{}, nil, nil, fmt.Errorf("%w: its key is not one this server made for it", ErrBadUpload)
	}
	data, err := s.blobs.Get(ctx, blobKey, agentapi.SealedSize(c.Size))
	if errors.Is(err, blob.ErrNotFound) {
		return Object{}, nil, nil, fmt.Errorf("%w: nothing was uploaded as object %s", ErrBadUpload, id)
	}
	if err != nil {
		return Object{}, nil, nil, err
	}
	plain, err := open(key, o, data)
	if err != nil {
		return Object{}, nil, nil, fmt.Errorf("%w: %v", ErrBadUpload, err)
	}
	return o, plain, key, nil
}

// GrantGet returns a signed request to fetch o and the key that opens it.
func (s *Store) GrantGet(ctx context.Context, o Object, ec envelope.Context) (agentapi.ObjectDownload, error) {
	signer, ok := s.blobs.(blob.Presigner)
	if !ok {
		return agentapi.ObjectDownload{}, ErrNoDirectTransfer
	}
	key, err := s.DataKey(ctx, o, ec)
	if err != nil {
		return agentapi.ObjectDownload{}, err
	}
	req, err := signer.PresignGet(ctx, o.BlobKey, grantTTL)
	if err != nil {
		return agentapi.ObjectDownload{}, err
	}
	return agentapi.ObjectDownload{
		ObjectID: o.ID, Method: req.Method, URL: req.URL, Header: req.Header, DataKey: key,
		SHA256: hex.EncodeToString(o.SHA256), Size: o.Size,
	}, nil
}

// Fetch is Get, or, for a client that fetches large objects itself
// (direct), a grant to fetch a large o straight from a store that signs
// requests, with no bytes.
func (s *Store) Fetch(ctx context.Context, o Object, ec envelope.Context, direct bool) ([]byte, *agentapi.ObjectDownload, error) {
	if _, signs := s.blobs.(blob.Presigner); direct && signs && o.Size > agentapi.LargeObject {
		g, err := s.GrantGet(ctx, o, ec)
		if err != nil {
			return nil, nil, err
		}
		return nil, &g, nil
	}
	data, err := s.Get(ctx, o, ec)
	return data, nil, err
}
