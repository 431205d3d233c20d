-- Intake catalog, PostgreSQL dialect: the step rollup kept per finished row instead of per statement. Keep in step
-- with Migrations/Sqlite/0013_step_rollup_per_row.sql (SQLite's triggers were per row already: nothing changes there).

-- Why: the statement-level triggers of 0010 fired for every statement on intake_steps, with transition tables. A load
-- starts four steps (an INSERT of a running row: nothing to count, yet the trigger ran a query over its transition
-- table) and finishes them (an UPDATE: a join of the old and new transition tables with the load). That was about a
-- third of the server's CPU per small load (docs/performance.md). A row trigger with a WHEN condition is tested in the
-- executor without calling PL/pgSQL: a running row queues nothing, and a finishing row runs one upsert.
-- Same counts: a step attempt counts once, when it finishes (running -> succeeded or failed), in the hour it finished;
-- a row written already finished (registration with a step done) counts when written.
-- Same locking: every statement the catalog sends to intake_steps writes one row, so one counter row per statement, as
-- before. Deletions keep the statement-level trigger of 0010 (many rows at once: its aggregated, ordered change).
CREATE FUNCTION intake_step_finished_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO intake_step_hours AS s (pipeline, customer, step, hour, succeeded, failed, rows_out, bytes_in, bytes_out)
    SELECT l.pipeline, l.customer, NEW.step, date_trunc('hour', NEW.finished_at, 'UTC'),
           CASE WHEN NEW.outcome = 'succeeded' THEN 1 ELSE 0 END,
           CASE WHEN NEW.outcome = 'failed' AND NEW.error_kind IS NOT NULL THEN 1 ELSE 0 END,
           CASE WHEN NEW.outcome = 'succeeded' THEN COALESCE(NEW.rows_out, 0) ELSE 0 END,
           CASE WHEN NEW.outcome = 'succeeded' THEN COALESCE(NEW.bytes_in, 0) ELSE 0 END,
           CASE WHEN NEW.outcome = 'succeeded' THEN COALESCE(NEW.bytes_out, 0) ELSE 0 END
    FROM intake_loads l WHERE l.id = NEW.load_id
    ON CONFLICT (pipeline, customer, step, hour) DO UPDATE SET
        succeeded = s.succeeded + excluded.succeeded, failed = s.failed + excluded.failed, rows_out = s.rows_out + excluded.rows_out,
        bytes_in = s.bytes_in + excluded.bytes_in, bytes_out = s.bytes_out + excluded.bytes_out;
    RETURN NULL;
END $$;

DROP TRIGGER intake_steps_rollup_insert ON intake_steps;
DROP TRIGGER intake_steps_rollup_update ON intake_steps;

CREATE TRIGGER intake_steps_rollup_insert AFTER INSERT ON intake_steps FOR EACH ROW
    WHEN (NEW.outcome <> 'running' AND NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION intake_step_finished_rollup();
CREATE TRIGGER intake_steps_rollup_update AFTER UPDATE OF outcome ON intake_steps FOR EACH ROW
    WHEN (OLD.outcome = 'running' AND NEW.outcome <> 'running' AND NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION intake_step_finished_rollup();
