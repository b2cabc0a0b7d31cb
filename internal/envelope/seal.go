package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// ErrTampered means a sealed object failed authentication: it was changed,
// truncated, or opened under the wrong name or key.
var ErrTampered = errors.New("sealed object failed authentication")

// sealVersion starts every sealed object so the format can change later.
const sealVersion byte = 1

// Overhead is how many bytes sealing adds: version byte, nonce and GCM tag.
const Overhead = 1 + 12 + 16

// Seal encrypts plaintext with AES-256-GCM under key, binding aad, and
// appends the result to dst.
func Seal(dst, key, aad, plaintext []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	dst = append(dst, sealVersion)
	dst = append(dst, nonce[:]...)
	return aead.Seal(dst, nonce[:], plaintext, aad), nil
}

// Open authenticates and decrypts a sealed object in place: the plaintext
// overwrites sealed's storage, so a large object is not copied.
func Open(key, aad, sealed []byte) ([]byte, error) {
	if len(sealed) < Overhead || sealed[0] != sealVersion {
		return nil, ErrTampered
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce, body := sealed[1:13], sealed[13:]
	out, err := aead.Open(body[:0], nonce, body, aad)
	if err != nil {
		return nil, ErrTampered
	}
	return out, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("data key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
