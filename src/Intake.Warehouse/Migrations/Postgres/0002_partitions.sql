-- Loads that replace a partition (WarehouseLoadRequest.ReplaceWhere: the rows of one day of a daily dataset). Keep in
-- step with Migrations/Sqlite.

-- Per table and partition (its constant values as text, e.g. 'day=2022-03-04'), the load whose rows the table keeps.
-- A replacing load locks its row for the rest of its transaction, so two deliveries of one day load one after the
-- other; only a load with a greater id takes the row over, so the newest delivery wins in any order.
create table _intake_partitions (
    table_name text not null,
    partition_key text not null,
    load_id bigint not null,
    committed_at timestamptz not null,
    primary key (table_name, partition_key));

-- The rows of a load that a newer load replaced, written in the newer load's transaction (or in the older load's own,
-- when it ran after the newer one): an audit finds there why the load's rows are no longer in its table.
create table _intake_replaced (
    table_name text not null,
    load_id bigint not null,
    replaced_by bigint not null,
    partition_key text not null,
    rows_replaced bigint not null,
    replaced_at timestamptz not null,
    primary key (table_name, load_id));
