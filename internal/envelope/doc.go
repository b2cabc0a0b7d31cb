// Package envelope encrypts blobs under envelope encryption: every object
// gets its own data key from a key provider (AWS KMS, or a local key file for
// the embedded default), the object is sealed with AES-256-GCM under that
// key, and only the wrapped (encrypted) data key is kept beside it.
//
// Invariants:
//   - A sealed object opens only with its own data key and the exact
//     additional data it was sealed with (the caller passes a value naming
//     the object, such as a state version id), so a flipped byte or an object
//     moved under another name fails loudly with ErrTampered.
//   - Data keys are bound to an encryption context (organization and
//     workspace); unwrapping under another context fails.
//   - Plaintext data keys live only in memory, in a short-lived cache.
package envelope
