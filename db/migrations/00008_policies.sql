-- +goose Up
-- OPA policies per organization, checked against every plan with changes
-- before it may be applied (docs/architecture.md §7), and each run's results.
CREATE TABLE policies (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    rego            TEXT NOT NULL,
    enforcement     TEXT NOT NULL CHECK (enforcement IN ('advisory', 'soft-mandatory', 'hard-mandatory')),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (organization_id, name)
);

-- One row per policy checked for a run, written with the run's move out of
-- policy_checking. Name and enforcement are copied: the policy may change
-- or go later, the record of what was checked stays.
CREATE TABLE policy_results (
    run_id          UUID NOT NULL REFERENCES runs (id),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    policy_name     TEXT NOT NULL,
    enforcement     TEXT NOT NULL,
    passed          BOOL NOT NULL,
    -- The policy's deny messages, a JSON array of strings.
    messages        JSONB NOT NULL,
    -- Why the policy could not be evaluated, if it could not.
    error           TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, policy_name)
);

-- Runs the platform still has to check: the tick's safety net.
CREATE INDEX runs_policy_checking ON runs (updated_at) WHERE status = 'policy_checking';

-- +goose Down
DROP INDEX runs_policy_checking;
DROP TABLE policy_results;
DROP TABLE policies;
