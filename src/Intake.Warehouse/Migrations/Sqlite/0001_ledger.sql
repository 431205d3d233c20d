-- Intake's own tables in a SQLite warehouse. Keep in step with Migrations/Postgres: same tables and columns,
-- only the types differ. Applied by the warehouse before its first load or merge; recorded in
-- _intake_warehouse_migrations.

-- The ledger: one row per (load, step, attempt, table), written in the same transaction as the rows it counts,
-- so a load's rows are in the warehouse exactly when its ledger row is. A merge records its row here too.
-- IF NOT EXISTS: a warehouse that Intake used before its tables were versioned already has this table, created by
-- this very statement; it takes version 1 as it is, rows and all.
CREATE TABLE IF NOT EXISTS _intake_ledger (
    load_id INTEGER NOT NULL,
    step TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    table_name TEXT NOT NULL,
    rows_written INTEGER NOT NULL,
    committed_at TEXT NOT NULL,
    PRIMARY KEY (load_id, step, attempt, table_name));
