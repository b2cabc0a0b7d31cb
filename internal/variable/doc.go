// Package variable owns variables — the terraform input variables and
// environment variables a run's terraform receives — on workspaces and in
// variable sets (global to the organization, or attached to workspaces).
//
// Invariants:
//   - A sensitive value is write-only. It is sealed before it is stored
//     (AES-GCM under a data key from the state key, bound to the
//     organization and the owning workspace or set and to the variable's
//     id), never kept in clear in the database, and no method but ForJob
//     returns it; ForJob's only caller is the agent protocol, for the job's
//     terraform.
//   - A variable cannot be made non-sensitive again: its value would
//     become readable.
//   - Keys are unique per owner and category, and valid for their category
//     (a terraform identifier, an environment variable name).
//   - A run gets one value per key and category: the workspace's own, else
//     an attached set's, else a global set's; between sets of one kind, the
//     set whose name sorts first.
package variable
