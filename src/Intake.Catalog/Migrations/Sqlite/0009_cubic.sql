-- Intake catalog, SQLite dialect: ODS snapshots of the Cubic slice (the design's cubic_table_ods_snapshots and
-- cubic_load_ods_snapshots), and the listed modification time of each load (the design's s3_modified).
-- Keep in step with Migrations/Postgres/0009_cubic.sql.
ALTER TABLE intake_loads ADD COLUMN source_modified TEXT;

-- one row per snapshot of a source table: a LOAD…1 file starts one (a restart of collection)
CREATE TABLE cubic_table_snapshots (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    table_id     INTEGER NOT NULL REFERENCES intake_source_tables (id),
    snapshot     TEXT    NOT NULL,
    snapshot_key TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    -- the same LOAD…1 file seen again (a re-drive) records nothing new
    CONSTRAINT cubic_table_snapshots_snapshot UNIQUE (table_id, snapshot)
) STRICT;

-- the snapshot a load belongs to, as decided when it was ingested
CREATE TABLE cubic_load_snapshots (
    load_id  INTEGER PRIMARY KEY REFERENCES intake_loads (id),
    snapshot TEXT    NOT NULL
) STRICT;
