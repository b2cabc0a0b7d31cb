// Package trigger owns cross-workspace run triggers: edges upstream →
// downstream within one organization, along which an apply of the
// upstream enqueues runs downstream.
//
// Invariants:
//   - The graph of an organization is acyclic. An edge is added only if its
//     upstream is not already reachable from its downstream, and every edge
//     change of an organization runs under that organization's row lock, so
//     two requests that together would close a cycle cannot both succeed.
//   - Edges never cross organizations.
//   - An applied run's state.changed event is written in its finishing
//     transaction (internal/run); its handler (Cascade.Deliver) creates at
//     most one pending triggered run per descendant, joining one still
//     pending there, in the transaction that records the delivery, so
//     delivering it again changes nothing.
//   - A triggered run is admitted only when no direct upstream has a run
//     going or a state change not yet delivered (run.AdmitNext), so it plans
//     against its upstreams' new state, once.
package trigger
