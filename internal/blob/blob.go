package blob

import (
	"context"
	"errors"
	"time"
)

var (
	ErrExists   = errors.New("blob already exists")
	ErrNotFound = errors.New("blob not found")
)

// Store keeps objects by key.
type Store interface {
	// Put stores data under a key that must not exist yet.
	Put(ctx context.Context, key string, data []byte) error
	// Get reads a whole object; size, when known, avoids growing the buffer.
	Get(ctx context.Context, key string, size int64) ([]byte, error)
}

// Presigner is a Store whose objects a client may put and get directly,
// with requests the store signs: how objects larger than a Lambda
// function's payload travel on AWS.
type Presigner interface {
	PresignPut(ctx context.Context, key string, size int64, ttl time.Duration) (Request, error)
	PresignGet(ctx context.Context, key string, ttl time.Duration) (Request, error)
}

// Request is a signed request: the client sends it as it is, with these
// headers.
type Request struct {
	Method string
	URL    string
	Header map[string]string
}
