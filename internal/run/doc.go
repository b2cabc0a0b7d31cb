// Package run owns the run lifecycle: the state machine of docs/architecture.md §3 (Next,
// pure) and the Service that applies its transitions to the database.
//
// Invariants:
//   - Run status changes only here, each change inside one SERIALIZABLE
//     transaction that also writes its side effects (invariant 4, docs/architecture.md).
//   - A non-plan-only run in a holding status (Status.Holds) is the
//     workspace's active_run_id, and no other run is (invariant 1, docs/architecture.md).
//   - Leaving a holding status releases the workspace and admits the next
//     pending run, oldest first, in the same transaction. Admission happens
//     only through the workspace's queue (AdmitNext, or Create for a
//     plan-only run): Fire refuses EventAdmit, which could pass over an
//     older pending run.
//   - The organization's running count and its row in the claim's ranking
//     (organization_queues: share, at its cap, since when its oldest job
//     has waited for a platform agent) change in the transaction of the
//     transition that changes them (rank), and equal what its runs say.
//   - Every non-terminal run has a wait reason or is being worked on (invariant 7, docs/architecture.md).
package run
