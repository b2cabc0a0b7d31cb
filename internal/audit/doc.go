// Package audit owns the audit trail: who changed what, from where and
// when, one entry per change, written by the service that makes the change
// inside the change's own transaction (Record), so an entry exists exactly
// when the change does. The API puts the actor on the request's context
// (WithActor); work without one (the tick, event deliveries) is the
// system's.
//
// Recording takes no lock: an organization's changes never wait on one
// another for the trail. Sealing (the tick, and every read) numbers and
// chains the entries recorded since, under the organization's head row.
//
// Invariants:
//   - Sealed entries of an organization are numbered 1, 2, 3 … without
//     gaps, in the order the changes were recorded.
//   - Each entry's hash is SHA-256(previous hash ‖ number ‖ body), body
//     being the exact JSON stored: Verify recomputes the chain, so a
//     changed, removed or reordered entry is found.
//   - A body never changes; sealing sets an entry's number and hash once,
//     and nothing in the code deletes entries.
package audit
