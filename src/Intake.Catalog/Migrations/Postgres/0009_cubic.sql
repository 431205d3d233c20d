-- Intake catalog, PostgreSQL dialect: ODS snapshots of the Cubic slice (the design's cubic_table_ods_snapshots and
-- cubic_load_ods_snapshots), and the listed modification time of each load (the design's s3_modified).
-- Keep in step with Migrations/Sqlite/0009_cubic.sql.
ALTER TABLE intake_loads ADD COLUMN source_modified timestamptz;

-- one row per snapshot of a source table: a LOAD…1 file starts one (a restart of collection)
CREATE TABLE cubic_table_snapshots (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_id     bigint      NOT NULL REFERENCES intake_source_tables (id),
    snapshot     timestamptz NOT NULL,
    snapshot_key text        NOT NULL,
    created_at   timestamptz NOT NULL,
    -- the same LOAD…1 file seen again (a re-drive) records nothing new
    CONSTRAINT cubic_table_snapshots_snapshot UNIQUE (table_id, snapshot)
);

-- the snapshot a load belongs to, as decided when it was ingested
CREATE TABLE cubic_load_snapshots (
    load_id  bigint      PRIMARY KEY REFERENCES intake_loads (id),
    snapshot timestamptz NOT NULL
);
