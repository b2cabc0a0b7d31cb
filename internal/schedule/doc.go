// Package schedule is the scheduler tick: the safety net that finds work a
// lost event left behind. Admission is normally event-driven (internal/run);
// the tick only repairs.
//
// Invariants:
//   - Any number of ticks may run at once, in any number of regions: each
//     repair is its own SERIALIZABLE transaction that re-checks its premise.
//   - The tick holds nothing in memory between calls (invariant 5, docs/architecture.md).
package schedule
