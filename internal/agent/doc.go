// Package agent is the agent itself (the server side of its protocol is
// internal/jobs; the wire format both speak is internal/agentapi): it
// claims one job from the agent API, runs
// the real terraform for it, streams the output as the job's log,
// heartbeats, and reports the outcome. It also holds the launcher that
// `runplane server` uses to start one agent process per claimable job.
//
// Invariants:
//   - Terraform runs sealed off from the agent (sandbox.go): an unprivileged
//     user in its own namespaces that sees a read-only system and the job
//     folder, with an allow-listed environment; nothing of the agent's
//     token, environment or host, and nothing outlives the agent.
//   - Terraform reaches state only through Runplane's HTTP backend, with the
//     job's credential; an apply applies the plan file of the plan phase.
//   - When the lease is lost (409 from any call), a plan agent kills
//     terraform and exits without reporting: the job belongs to someone else
//     now. An apply agent lets terraform finish, so that what it creates
//     reaches the state, and exits without reporting.
//   - Cancel and the agent's own SIGTERM send SIGINT to terraform's process
//     group, so terraform stops gracefully and saves state; force-cancel
//     (the run is over) kills it.
//   - A phase's log is kept up to the server's limit, then ends with a line
//     saying the rest was dropped.
package agent
