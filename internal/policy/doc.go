// Package policy owns the policy check between plan and apply: an
// organization's OPA (Rego) policies, their evaluation against a run's plan
// (`terraform show -json`, the plan JSON the agent uploaded) and the
// results kept with the run (docs/architecture.md §7).
//
// A policy is a Rego v1 module whose `deny` rule is a set of messages; the
// plan JSON is its input. A policy passes when deny is empty. Enforcement
// decides what a failure does: advisory is recorded only; soft-mandatory
// stops the run in policy_override until an organization admin overrides;
// hard-mandatory errors the run. A policy that cannot be evaluated fails.
//
// Invariants:
//   - The platform evaluates, never the agent: the agent only uploads the
//     plan JSON, and a lost or forged report cannot pass a check.
//   - A run leaves policy_checking in the transaction that records its
//     results, guarded by its status, so a run is checked once however many
//     processes check it at the same moment (the finish hook and the tick).
//   - Policies run without network, environment or runtime access: the
//     builtins that would give it (http.send, net.*, opa.runtime) are not
//     available to them.
package policy
