-- Intake's own tables in a PostgreSQL warehouse. Keep in step with Migrations/Sqlite: same tables and columns,
-- only the types differ. Applied by the warehouse before its first load or merge; recorded in
-- _intake_warehouse_migrations (not the catalog's intake_schema_migrations: both may live in one database).

-- The ledger: one row per (load, step, attempt, table), written in the same transaction as the rows it counts,
-- so a load's rows are in the warehouse exactly when its ledger row is. A merge records its row here too.
-- IF NOT EXISTS: a warehouse that Intake used before its tables were versioned already has this table, created by
-- this very statement; it takes version 1 as it is, rows and all.
create table if not exists _intake_ledger (
    load_id bigint not null,
    step text not null,
    attempt integer not null,
    table_name text not null,
    rows_written bigint not null,
    committed_at timestamptz not null,
    primary key (load_id, step, attempt, table_name));
