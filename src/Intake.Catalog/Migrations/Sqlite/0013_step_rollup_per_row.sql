-- Intake catalog, SQLite dialect: the step rollup kept per finished row. Keep in step with
-- Migrations/Postgres/0013_step_rollup_per_row.sql, which makes PostgreSQL's step triggers per row with a WHEN
-- condition, as SQLite's have been since 0010 (intake_steps_rollup_insert and intake_steps_rollup_update): nothing to
-- change here; the version is recorded so both dialects stay at the same schema version.
SELECT 1;
