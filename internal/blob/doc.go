// Package blob stores opaque, already-encrypted objects under keys that are
// never reused: a folder for the embedded default, S3 in production.
//
// Invariants:
//   - Put never overwrites: a second Put to the same key fails with ErrExists
//     (S3: If-None-Match "*"; folder: a hard link, which refuses an existing
//     name), so an acknowledged object cannot be replaced through this package.
//   - Put returns only once the object is durable (folder: file and directory
//     synced; S3: the PUT answered).
package blob
