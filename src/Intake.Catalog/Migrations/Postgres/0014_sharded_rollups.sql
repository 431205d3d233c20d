-- Intake catalog, PostgreSQL dialect: the load counts and the hourly step figures kept in 16 shards per key. Keep in
-- step with Migrations/Sqlite/0014_sharded_rollups.sql (SQLite has one writer at a time: nothing to change there).

-- Why: every change of a load's status adds to one counter row of (pipeline, customer, status, error kind) and takes
-- one from another, and every finished step attempt adds to its (pipeline, customer, step, hour) row. A row's lock is
-- held until its transaction commits, so the workers of one pipeline queued on the same few rows: with 8 loads in
-- flight, the upsert of intake_load_counts took 5 ms a call waiting (pg_stat_statements; docs/performance.md), more
-- than all the rest of a small load's catalog work. Each statement now adds to a shard of its key picked at random,
-- so concurrent transactions rarely meet on a row. Readers sum the shards (they summed already, or do now: a shard's
-- count may be negative, only the sum is the number of loads).
ALTER TABLE intake_load_counts ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE intake_load_counts DROP CONSTRAINT intake_load_counts_pkey;
ALTER TABLE intake_load_counts ADD PRIMARY KEY (pipeline, customer, status, error_kind, shard);

ALTER TABLE intake_step_hours ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE intake_step_hours DROP CONSTRAINT intake_step_hours_pkey;
ALTER TABLE intake_step_hours ADD PRIMARY KEY (pipeline, customer, step, hour, shard);

-- As in 0010, each key's change once per statement and in key order (one shard for the whole statement, so the order
-- stays the keys'), with the shard added to the key.
CREATE OR REPLACE FUNCTION intake_loads_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s smallint := floor(random() * 16)::smallint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO intake_load_counts AS c (pipeline, customer, status, error_kind, shard, loads)
        SELECT pipeline, customer, status, COALESCE(error_kind, ''), s, count(*) FROM intake_new_loads
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (pipeline, customer, status, error_kind, shard) DO UPDATE SET loads = c.loads + excluded.loads;

        INSERT INTO intake_load_hours AS h (pipeline, customer, hour, loads, last_created_at)
        SELECT pipeline, customer, date_trunc('hour', created_at, 'UTC'), count(*), max(created_at) FROM intake_new_loads
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (pipeline, customer, hour) DO UPDATE SET loads = h.loads + excluded.loads, last_created_at = GREATEST(h.last_created_at, excluded.last_created_at);
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO intake_load_counts AS c (pipeline, customer, status, error_kind, shard, loads)
        SELECT pipeline, customer, status, error_kind, s, sum(n) FROM (
            SELECT pipeline, customer, status, COALESCE(error_kind, '') AS error_kind, -1 AS n FROM intake_old_loads
            UNION ALL
            SELECT pipeline, customer, status, COALESCE(error_kind, ''), 1 FROM intake_new_loads) d
        GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0 ORDER BY 1, 2, 3, 4
        ON CONFLICT (pipeline, customer, status, error_kind, shard) DO UPDATE SET loads = c.loads + excluded.loads;
    ELSE
        INSERT INTO intake_load_counts AS c (pipeline, customer, status, error_kind, shard, loads)
        SELECT pipeline, customer, status, COALESCE(error_kind, ''), s, -count(*) FROM intake_old_loads
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (pipeline, customer, status, error_kind, shard) DO UPDATE SET loads = c.loads + excluded.loads;

        -- the hour's count goes down; its newest registration stays what it was
        UPDATE intake_load_hours h SET loads = h.loads - d.loads
        FROM (SELECT pipeline, customer, date_trunc('hour', created_at, 'UTC') AS hour, count(*) AS loads FROM intake_old_loads GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) d
        WHERE h.pipeline = d.pipeline AND h.customer = d.customer AND h.hour = d.hour;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION intake_step_finished_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO intake_step_hours AS s (pipeline, customer, step, hour, shard, succeeded, failed, rows_out, bytes_in, bytes_out)
    SELECT l.pipeline, l.customer, NEW.step, date_trunc('hour', NEW.finished_at, 'UTC'), floor(random() * 16)::smallint,
           CASE WHEN NEW.outcome = 'succeeded' THEN 1 ELSE 0 END,
           CASE WHEN NEW.outcome = 'failed' AND NEW.error_kind IS NOT NULL THEN 1 ELSE 0 END,
           CASE WHEN NEW.outcome = 'succeeded' THEN COALESCE(NEW.rows_out, 0) ELSE 0 END,
           CASE WHEN NEW.outcome = 'succeeded' THEN COALESCE(NEW.bytes_in, 0) ELSE 0 END,
           CASE WHEN NEW.outcome = 'succeeded' THEN COALESCE(NEW.bytes_out, 0) ELSE 0 END
    FROM intake_loads l WHERE l.id = NEW.load_id
    ON CONFLICT (pipeline, customer, step, hour, shard) DO UPDATE SET
        succeeded = s.succeeded + excluded.succeeded, failed = s.failed + excluded.failed, rows_out = s.rows_out + excluded.rows_out,
        bytes_in = s.bytes_in + excluded.bytes_in, bytes_out = s.bytes_out + excluded.bytes_out;
    RETURN NULL;
END $$;

-- The statement-level step rollup of 0010, still the deletions' (0013): the same sums, into a shard of each key.
CREATE OR REPLACE FUNCTION intake_steps_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s smallint := floor(random() * 16)::smallint;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO intake_step_hours AS h (pipeline, customer, step, hour, shard, succeeded, failed, rows_out, bytes_in, bytes_out)
        SELECT l.pipeline, l.customer, n.step, date_trunc('hour', n.finished_at, 'UTC'), s,
               count(*) FILTER (WHERE n.outcome = 'succeeded'),
               count(*) FILTER (WHERE n.outcome = 'failed' AND n.error_kind IS NOT NULL),
               COALESCE(sum(n.rows_out) FILTER (WHERE n.outcome = 'succeeded'), 0),
               COALESCE(sum(n.bytes_in) FILTER (WHERE n.outcome = 'succeeded'), 0),
               COALESCE(sum(n.bytes_out) FILTER (WHERE n.outcome = 'succeeded'), 0)
        FROM intake_new_steps n
        JOIN intake_old_steps o ON o.id = n.id
        JOIN intake_loads l ON l.id = n.load_id
        WHERE o.outcome = 'running' AND n.outcome <> 'running' AND n.finished_at IS NOT NULL
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (pipeline, customer, step, hour, shard) DO UPDATE SET
            succeeded = h.succeeded + excluded.succeeded, failed = h.failed + excluded.failed, rows_out = h.rows_out + excluded.rows_out,
            bytes_in = h.bytes_in + excluded.bytes_in, bytes_out = h.bytes_out + excluded.bytes_out;
    ELSE
        -- rows written already finished (an import), or deleted: +1 or -1 each
        INSERT INTO intake_step_hours AS h (pipeline, customer, step, hour, shard, succeeded, failed, rows_out, bytes_in, bytes_out)
        SELECT l.pipeline, l.customer, n.step, date_trunc('hour', n.finished_at, 'UTC'), s,
               sign * count(*) FILTER (WHERE n.outcome = 'succeeded'),
               sign * count(*) FILTER (WHERE n.outcome = 'failed' AND n.error_kind IS NOT NULL),
               sign * COALESCE(sum(n.rows_out) FILTER (WHERE n.outcome = 'succeeded'), 0),
               sign * COALESCE(sum(n.bytes_in) FILTER (WHERE n.outcome = 'succeeded'), 0),
               sign * COALESCE(sum(n.bytes_out) FILTER (WHERE n.outcome = 'succeeded'), 0)
        FROM (SELECT CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END AS sign) k,
             intake_changed_steps n
        JOIN intake_loads l ON l.id = n.load_id
        WHERE n.outcome <> 'running' AND n.finished_at IS NOT NULL
        GROUP BY k.sign, 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (pipeline, customer, step, hour, shard) DO UPDATE SET
            succeeded = h.succeeded + excluded.succeeded, failed = h.failed + excluded.failed, rows_out = h.rows_out + excluded.rows_out,
            bytes_in = h.bytes_in + excluded.bytes_in, bytes_out = h.bytes_out + excluded.bytes_out;
    END IF;
    RETURN NULL;
END $$;
