package blob

import (
	"context"
	"errors"
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
