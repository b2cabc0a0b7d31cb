// Package runner is the agent: it claims one job from the agent API, runs
// the real terraform for it, streams the output as the job's log,
// heartbeats, and reports the outcome. It also holds the launcher that
// `runplane server` uses to start one agent process per claimable job.
//
// Invariants:
//   - Terraform reaches state only through Runplane's HTTP backend, with the
//     job's credential; an apply applies the plan file of the plan phase.
//   - When the lease is lost (409 from any call), the agent kills terraform
//     and exits without reporting: the job belongs to someone else now.
//   - Cancel sends SIGINT to terraform's process group, so terraform stops
//     gracefully and saves state; force-cancel (the run is over) kills it.
package runner
