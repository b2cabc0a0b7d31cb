// Package fargate launches ephemeral agents as ECS tasks (on Fargate, or
// any ECS capacity): the scheduler tick asks it for as many agents as
// there are jobs an agent could claim, and each task claims one job, runs
// it and exits (cmd/runplane-agent).
//
// Invariants:
//   - Never more tasks alive than the pool, and never more starting (alive
//     and not yet holding a job) than there are claimable jobs: a task
//     launched for nothing finds no job and exits after its claim wait.
//   - It keeps nothing between ticks: what is alive is ECS's answer
//     (ListTasks of the tasks it started), what is busy is the database's
//     count of running jobs. A failed launch is retried by the next tick,
//     because the job it was for is still claimable.
package fargate
