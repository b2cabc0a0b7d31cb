package agentapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/envelope"
)

// Large objects (states, plan files, plan JSON, configurations) travel
// straight between the client and blob storage when the server's storage
// can sign requests (S3): API Gateway takes at most 10 MB and a Lambda
// function 6 MB each way, and states go to 50 MB. The client seals what it
// puts with a data key the server hands out, exactly as the server seals
// its own objects, and opens what it gets with the object's data key; the
// bucket only ever holds sealed bytes. Smaller objects go through the API.

// LargeObject is the size above which an object goes directly to or from
// blob storage, when the server grants it: well below the Lambda limits
// once a body is base64-encoded into an event.
const LargeObject = 4 << 20

// ObjectDownloadType is the media type a client names in Accept to be
// answered, for a large object, with an ObjectDownload instead of its bytes.
const ObjectDownloadType = "application/vnd.runplane.object-download+json"

// CodeNoDirectTransfer is the error code (409) of an upload request to a
// server whose storage takes objects through the API only: send the bytes.
const CodeNoDirectTransfer = "no_direct_transfer"

// ObjectUploadRequest asks to put an object of Size bytes directly.
type ObjectUploadRequest struct {
	Size int64 `json:"size"`
}

// ObjectUpload grants one direct upload: seal the bytes with Seal, send
// them with Method to URL with Header, then commit with the returned
// ObjectCommit at the object's commit path.
type ObjectUpload struct {
	ObjectID   uuid.UUID         `json:"object_id"`
	Method     string            `json:"method"`
	URL        string            `json:"url"`
	Header     map[string]string `json:"header"`
	Size       int64             `json:"size"`
	DataKey    []byte            `json:"data_key"`
	WrappedKey []byte            `json:"wrapped_key"`
	ExpiresAt  time.Time         `json:"expires_at"`
}

// ObjectCommit tells the server what was uploaded under a grant; it opens
// the object with the wrapped key and checks both figures before it
// records anything.
type ObjectCommit struct {
	WrappedKey []byte `json:"wrapped_key"`
	SHA256     string `json:"sha256"`
	Size       int64  `json:"size"`
}

// ObjectDownload grants one direct read of a sealed object: fetch it with
// Method from URL with Header and open it with Open.
type ObjectDownload struct {
	ObjectID uuid.UUID         `json:"object_id"`
	Method   string            `json:"method"`
	URL      string            `json:"url"`
	Header   map[string]string `json:"header"`
	DataKey  []byte            `json:"data_key"`
	SHA256   string            `json:"sha256"`
	Size     int64             `json:"size"`
}

// Seal seals data for this upload and says what to commit.
func (u ObjectUpload) Seal(data []byte) ([]byte, ObjectCommit, error) {
	if int64(len(data)) != u.Size {
		return nil, ObjectCommit{}, fmt.Errorf("the upload was granted for %d bytes, not %d", u.Size, len(data))
	}
	sealed, err := envelope.Seal(make([]byte, 0, len(data)+envelope.Overhead), u.DataKey, u.ObjectID[:], data)
	if err != nil {
		return nil, ObjectCommit{}, err
	}
	sum := sha256.Sum256(data)
	return sealed, ObjectCommit{WrappedKey: u.WrappedKey, SHA256: hex.EncodeToString(sum[:]), Size: u.Size}, nil
}

// SealedSize is how many bytes an object of size bytes takes sealed.
func SealedSize(size int64) int64 { return size + envelope.Overhead }

// ErrObjectMismatch: a fetched object did not open with its key, or its
// size or SHA-256 differ from the server's record.
var ErrObjectMismatch = errors.New("the fetched object does not match the server's record")

// Open opens a fetched sealed object in place and checks it.
func (d ObjectDownload) Open(sealed []byte) ([]byte, error) {
	plain, err := envelope.Open(d.DataKey, d.ObjectID[:], sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrObjectMismatch, err)
	}
	sum := sha256.Sum256(plain)
	want, _ := hex.DecodeString(d.SHA256)
	if int64(len(plain)) != d.Size || !bytes.Equal(sum[:], want) {
		return nil, fmt.Errorf("%w: %d bytes with SHA-256 %x, want %d with %s", ErrObjectMismatch, len(plain), sum, d.Size, d.SHA256)
	}
	return plain, nil
}
