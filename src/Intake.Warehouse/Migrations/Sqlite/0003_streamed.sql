-- Loads whose rows other connections committed before the load's own transaction. Keep in step with
-- Migrations/Postgres/0003_streamed.sql (where it is written and read: SQLite has no load.streams, so the table stays
-- empty here and a SQLite load deletes its earlier rows as before, through its load id index).
CREATE TABLE _intake_streamed (
    load_id INTEGER NOT NULL,
    table_name TEXT NOT NULL,
    started_at TEXT NOT NULL,
    PRIMARY KEY (load_id, table_name));
