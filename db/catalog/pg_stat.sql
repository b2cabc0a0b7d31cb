-- The statistics views the benchmark reads (queries/checks/bench.sql),
-- declared for sqlc's type checking only: PostgreSQL provides them in
-- pg_catalog, which comes first on the search path. Never migrated.
CREATE TABLE pg_stat_user_tables (
    relid OID NOT NULL,
    relname NAME NOT NULL,
    seq_tup_read BIGINT NOT NULL,
    idx_tup_fetch BIGINT,
    n_tup_ins BIGINT NOT NULL,
    n_tup_upd BIGINT NOT NULL,
    n_tup_del BIGINT NOT NULL,
    n_tup_hot_upd BIGINT NOT NULL
);

CREATE TABLE pg_stat_user_indexes (
    relid OID NOT NULL,
    idx_tup_read BIGINT NOT NULL
);

CREATE TABLE pg_stat_database (
    datname NAME,
    xact_commit BIGINT NOT NULL,
    xact_rollback BIGINT NOT NULL
);
