// Package schedule is the scheduler tick: the safety net that finds work a
// crash or a lost message left behind, and the figure agents are scaled
// on. Admission and event delivery are normally immediate (internal/run,
// internal/events); the tick only repairs. `runplane server` (Scheduler.Run)
// and the scheduler function (Scheduler.Invoke) run the same Tick with the
// same defaults.
//
// One tick, in order: reap expired agent leases, deliver due events (retries,
// and whatever no process handed on), admit pending runs on free
// workspaces, count the jobs agents could claim now and, with a Launcher
// (ECS tasks on AWS), start agents for them.
//
// Invariants:
//   - Any number of ticks may run at once, in any number of regions: each
//     repair is its own SERIALIZABLE transaction that re-checks its premise.
//   - The tick holds nothing in memory between calls (invariant 5,
//     docs/architecture.md).
//   - A step that fails is reported and the others still run: one broken
//     item must not stop every organization's repairs.
package schedule
