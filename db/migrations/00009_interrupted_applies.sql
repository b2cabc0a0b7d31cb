-- +goose Up
-- An apply whose agent was lost locks its workspace for that run: until a
-- person unlocks it, the run's terraform (if it still lives) may save the
-- state it is creating, and nobody else may write state.
ALTER TABLE workspaces ADD COLUMN locked_for_run_id UUID;

-- When the scheduler's tick last ran. A gap much longer than the tick
-- interval is an outage (the database or the scheduler was down); leases
-- are credited with it, so agents that could not heartbeat meanwhile keep
-- their jobs. One row, written once per tick.
CREATE TABLE scheduler_clock (
    id        INT PRIMARY KEY CHECK (id = 1),
    ticked_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE scheduler_clock;
ALTER TABLE workspaces DROP COLUMN locked_for_run_id;
