-- Loads that replace a partition (WarehouseLoadRequest.ReplaceWhere: the rows of one day of a daily dataset). Keep in
-- step with Migrations/Postgres.

-- Per table and partition (its constant values as text, e.g. 'day=2022-03-04'), the load whose rows the table keeps.
-- Every load holds the database's write lock (BEGIN IMMEDIATE), so two deliveries of one day load one after the
-- other; only a load with a greater id takes the row over, so the newest delivery wins in any order.
CREATE TABLE _intake_partitions (
    table_name TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    load_id INTEGER NOT NULL,
    committed_at TEXT NOT NULL,
    PRIMARY KEY (table_name, partition_key));

-- The rows of a load that a newer load replaced, written in the newer load's transaction (or in the older load's own,
-- when it ran after the newer one): an audit finds there why the load's rows are no longer in its table.
CREATE TABLE _intake_replaced (
    table_name TEXT NOT NULL,
    load_id INTEGER NOT NULL,
    replaced_by INTEGER NOT NULL,
    partition_key TEXT NOT NULL,
    rows_replaced INTEGER NOT NULL,
    replaced_at TEXT NOT NULL,
    PRIMARY KEY (table_name, load_id));
