// Package jobs owns the server side of the agent protocol (its wire format
// is internal/agentapi; the agent itself is internal/agent): jobs (one
// phase of one run), the fair-share claim, their leases, logs and
// artifacts, and the reaping of leases whose agent went silent.
//
// Invariants:
//   - A job is claimed in the same transaction that moves its run to
//     planning or applying; two claimers never get the same run (the claim
//     query locks with SKIP LOCKED, and the transition is guarded by status).
//   - Every agent call carries the job's lease token. A call whose lease is
//     reaped or ended answers ErrLeaseLost and changes nothing; the job's
//     credential stops authenticating at the same moment, so a zombie
//     agent's terraform cannot touch state either. A lease is live until the
//     reaper ends it, and the reaper first credits every lease with any
//     outage (CreditOutage): time the database was unreachable does not
//     count against agents that could not heartbeat.
//   - An organization never has more jobs running than its cap, nor spends
//     a token twice: its claims check and spend both while holding its row,
//     taken with SKIP LOCKED as the claim transaction's first statement.
//     The fair-share ranking that orders candidates (organization_queues,
//     kept by internal/run) is read before the transaction, a page of one
//     index however many organizations wait; a stale ranking only changes
//     which organization is served first, never the cap or the bucket.
//   - Logs are append-only and idempotent by byte offset, at most
//     agentapi.MaxLog a phase, sealed under the job's data key, and moved to one sealed blob
//     when the job ends.
//   - An expired plan lease sends the run back to plan_queued (bounded
//     attempts, then errored); an expired apply lease errors the run and
//     locks the workspace for that run, for a person to verify state. Both
//     happen in the transaction that ends the job. Until the workspace is
//     unlocked, the lost apply's credential may still save state and keeps
//     its state lock, so an apply cut off from the platform loses nothing.
//
// The agent API is site-wide: one agent pool serves every organization, so
// jobs are found by id and authorized by their lease token.
package jobs
