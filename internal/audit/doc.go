// Package audit owns the audit trail: who changed what, from where and
// when, one entry per change, written by the service that makes the change
// inside the change's own transaction (Record), so an entry exists exactly
// when the change does. The API puts the actor on the request's context
// (WithActor); work without one (the tick, event deliveries) is the
// system's.
//
// Invariants:
//   - Entries of an organization are numbered 1, 2, 3 … without gaps, in
//     the order their transactions took the organization's head row.
//   - Each entry's hash is SHA-256(previous hash ‖ body), body being the
//     exact JSON stored: Verify recomputes the chain, so a changed,
//     removed or reordered entry is found.
//   - Entries are only ever inserted; nothing in the code updates or
//     deletes them.
package audit
