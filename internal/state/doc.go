// Package state owns Terraform state: the HTTP-backend lock, immutable state
// versions, their encrypted storage, outputs, rollback and who may read a
// workspace's state.
//
// Invariants:
//   - A version, once acknowledged, is never changed or deleted: every write
//     (including a rollback) is a new version with a new id, a new blob key
//     and a new data key, and moves the workspace's current pointer in the
//     same transaction that inserts the row.
//   - A new version carries the workspace's lineage and a serial above the
//     current one, and is written only by the holder of the state lock; while
//     a run holds the workspace, only that run's credential may lock or write.
//   - Every read checks the GCM tag (bound to the version id) and the SHA-256
//     recorded at write time; a mismatch is ErrCorrupt, never bytes.
//   - Plaintext state and outputs reach only the caller: blobs hold sealed
//     bytes, the database holds sealed outputs and wrapped keys, logs hold ids.
package state
