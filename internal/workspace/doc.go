// Package workspace owns workspaces: creation, lookup and the manual lock.
//
// Invariants:
//   - A locked workspace admits no run; unlocking admits the next pending run
//     in the same transaction (through run.AdmitNext).
//   - A lock taken by a token is released by that token; anyone else, and any
//     system lock (such as "apply interrupted"), needs force-unlock.
//   - active_run_id is never written here: only internal/run moves it.
package workspace
