-- Intake catalog, SQLite dialect: the tables of file sources watched by prefix (tables_from_prefix), and the table
-- each load belongs to. Keep in step with Migrations/Postgres/0008_source_tables.sql.
CREATE TABLE intake_source_tables (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline      TEXT NOT NULL,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    -- one table per name in a pipeline: two discoveries registering it at once create one row
    CONSTRAINT intake_source_tables_name UNIQUE (pipeline, name)
) STRICT;

-- NULL for loads of pipelines without tables (and every load registered before this version)
ALTER TABLE intake_loads ADD COLUMN table_name TEXT;

-- a table's loads: listing by table and counting them by status
CREATE INDEX intake_loads_pipeline_table ON intake_loads (pipeline, table_name, status);
