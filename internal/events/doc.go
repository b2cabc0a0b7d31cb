// Package events owns the event log and its one dispatcher: the only way
// Runplane says "after X, do Y".
//
// A transition that others react to writes a typed event (Emit) in the
// transaction that makes it, so the event exists exactly when the
// transition committed. The dispatcher delivers each event to the one
// handler registered for its kind at wiring time (internal/platform):
// right after the commit (Send — in process, or through the SQS queue on
// AWS), and again from the scheduler's sweep (DeliverDue) for whatever a
// crash, a lost message or a failed handler left due.
//
// Invariants:
//   - At least once: an event is pending until a handler succeeded for it.
//     A claimed attempt hides it from other deliverers for the visibility
//     timeout only, so a deliverer that dies leaves it due again.
//   - Handlers are idempotent. One that writes the database does so in
//     Delivery.Commit, which records the delivery in the same transaction:
//     its effect happens once even when two deliverers race.
//   - A failing handler is retried with exponential backoff; after
//     MaxAttempts the event is dead-lettered (dead_at, last_error), logged,
//     listed by the admin API and retried only when an operator asks.
//   - The log is ordered per workspace (created_at) and keeps delivered
//     events for Config.Retention, for readers: notifications, the audit
//     trail, live views.
package events
