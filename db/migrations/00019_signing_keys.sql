-- +goose Up
-- Keys that sign runs' workload identity tokens (internal/identity). The
-- private key is sealed like state; the public one is published (JWKS)
-- until a while after a newer key replaced it.
CREATE TABLE signing_keys (
    id             TEXT PRIMARY KEY,
    public_jwk     TEXT NOT NULL,
    sealed_private BYTEA NOT NULL,
    key_id         TEXT NOT NULL,
    wrapped_key    BYTEA NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set when a newer key replaced it: published until then, never used to sign.
    retire_at      TIMESTAMPTZ
);

-- +goose Down
DROP TABLE signing_keys;
