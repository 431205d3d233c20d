-- Loads whose rows other connections committed before the load's own transaction (load.streams > 1: ParallelCopy).
-- Keep in step with Migrations/Sqlite.

-- A load's earlier rows are deleted before it copies (a re-run replaces exactly its own rows). Finding none costs a
-- scan of the table (its load id index is BRIN, and the planner reads the whole table while it is small): the more
-- rows the table holds, the more every small load pays, for nothing on a first attempt. So the delete runs only when
-- the warehouse holds evidence of earlier rows: a ledger row of the load (written in the same transaction as the rows
-- it counts), or a row here, committed before any stream's rows are (a crash between the streams' commits and the
-- load's own leaves rows without a ledger row). Never deleted: one small row per load copied in streams.
create table _intake_streamed (
    load_id bigint not null,
    table_name text not null,
    started_at timestamptz not null,
    primary key (load_id, table_name));
