// Package sealed stores objects under envelope encryption: one fresh data key
// per object, the object sealed with AES-256-GCM bound to its id, the sealed
// bytes in a blob store under a key never reused, and only the wrapped data
// key, SHA-256 and size kept by the caller (in its database row).
//
// Invariants:
//   - Get returns bytes only if the GCM tag (bound to the object id) and the
//     recorded SHA-256 and size all match; anything else is ErrCorrupt, logged.
//   - Plaintext goes nowhere but back to the caller.
package sealed
