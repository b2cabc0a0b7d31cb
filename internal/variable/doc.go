// Package variable owns workspace variables: the terraform input variables
// and environment variables a run's terraform receives.
//
// Invariants:
//   - A sensitive value is write-only. It is sealed before it is stored
//     (AES-GCM under a data key from the state key, bound to the
//     organization and workspace and to the variable's id), never kept in
//     clear in the database, and no method but ForJob returns it; ForJob's
//     only caller is the agent protocol, for the job's terraform.
//   - A variable cannot be made non-sensitive again: its value would
//     become readable.
//   - Keys are unique per workspace and category, and valid for their
//     category (a terraform identifier, an environment variable name).
package variable
