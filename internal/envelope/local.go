package envelope

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LocalKey is the embedded default's key provider: a 256-bit master key in a
// file (mode 0600) that wraps data keys with AES-256-GCM, binding the
// encryption context as additional data. Losing the file loses every state
// it wrapped; back it up with the data folder.
type LocalKey struct {
	id     string
	master []byte
}

// OpenLocalKey reads the master key at path, creating it on first use.
func OpenLocalKey(path string) (*LocalKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b = make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		// O_EXCL: two processes starting at once must not both write a key.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return OpenLocalKey(path)
		}
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("key file %s holds %d bytes, want 32", path, len(b))
	}
	sum := sha256.Sum256(b)
	return &LocalKey{id: "local:" + hex.EncodeToString(sum[:8]), master: b}, nil
}

// KeyID names the key by a fingerprint, never the key itself.
func (k *LocalKey) KeyID() string { return k.id }

// GenerateDataKey makes a random data key and wraps it under the master key.
func (k *LocalKey) GenerateDataKey(_ context.Context, ec Context) (DataKey, error) {
	plain := make([]byte, 32)
	if _, err := rand.Read(plain); err != nil {
		return DataKey{}, err
	}
	wrapped, err := Seal(nil, k.master, ec.canonical(), plain)
	if err != nil {
		return DataKey{}, err
	}
	return DataKey{Plaintext: plain, Wrapped: wrapped}, nil
}

// Decrypt unwraps a data key; a different context or a changed byte fails.
func (k *LocalKey) Decrypt(_ context.Context, wrapped []byte, ec Context) ([]byte, error) {
	key, err := Open(k.master, ec.canonical(), append([]byte(nil), wrapped...))
	if err != nil {
		return nil, fmt.Errorf("unwrap data key: %w", err)
	}
	return key, nil
}
