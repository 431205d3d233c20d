-- Intake catalog, PostgreSQL dialect: what the operator UI's Loads, Overview and Errors pages read, fast at a million
-- loads. Keep in step with Migrations/Sqlite/0010_operator_queries.sql: same tables, columns and index names.

-- ---- Loads list: source key search ("where is file X?") and the error kind filter ----

-- Exact key and prefix (a folder): byte order (text_pattern_ops), so LIKE 'prefix%' reads the index whatever the
-- database's collation.
CREATE INDEX intake_loads_source_key ON intake_loads (source_key text_pattern_ops);

-- A part of the key anywhere (ILIKE '%part%'): a trigram index. pg_trgm is in PostgreSQL's contrib (Debian ships it
-- with the server) and is a trusted extension, so the database owner may create it. When it cannot be created (not
-- installed, no privilege) the migration goes on without it: the search still answers, reading the loads newest
-- first until the page is full (fast for a common part, slow for a rare one at a million loads). To add it later:
--   CREATE EXTENSION pg_trgm;
--   CREATE INDEX intake_loads_source_key_trgm ON intake_loads USING gin (source_key gin_trgm_ops);
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'Intake catalog: pg_trgm cannot be created (%); source key search by a part of the key will read the loads instead of an index', SQLERRM;
END $$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX intake_loads_source_key_trgm ON intake_loads USING gin (source_key gin_trgm_ops);
    END IF;
END $$;

-- The error kind filter, newest first; only loads with an error are in it (a few per cent).
CREATE INDEX intake_loads_error_kind_id ON intake_loads (error_kind, id) WHERE error_kind IS NOT NULL;

-- The errored loads only (small): per pipeline and kind, oldest and newest, and the last 24 hours.
-- updated_at of an errored load is when it became errored: nothing else changes it until a re-drive.
CREATE INDEX intake_loads_errored_kind ON intake_loads (pipeline, customer, error_kind, updated_at, id) WHERE status = 'errored';
CREATE INDEX intake_loads_errored_time ON intake_loads (pipeline, customer, updated_at) WHERE status = 'errored';

-- ---- Rollups: kept by triggers in the statement that changes a load or finishes a step ----
-- A GROUP BY over a million loads takes a tenth of a second or more; these tables hold a few thousand rows. The
-- triggers are statement-level and apply one aggregated change per statement, in key order, so two statements never
-- wait for each other's counter rows in opposite orders (no deadlock), and a statement that changes nothing a rollup
-- counts (a heartbeat, a re-registration) writes nothing.

-- Loads per pipeline, customer, status and error kind ('' for none: a primary key column cannot be NULL).
CREATE TABLE intake_load_counts (
    pipeline   text   NOT NULL,
    customer   text   NOT NULL,
    status     text   NOT NULL,
    error_kind text   NOT NULL,
    loads      bigint NOT NULL,
    PRIMARY KEY (pipeline, customer, status, error_kind)
);

-- Loads registered per pipeline, customer and hour (UTC) of created_at, and the newest registration.
CREATE TABLE intake_load_hours (
    pipeline        text        NOT NULL,
    customer        text        NOT NULL,
    hour            timestamptz NOT NULL,
    loads           bigint      NOT NULL,
    last_created_at timestamptz NOT NULL,
    PRIMARY KEY (pipeline, customer, hour)
);

-- Finished step attempts per pipeline, customer, step and hour (UTC) of finished_at: succeeded, failed with an error
-- kind (a held attempt is neither), and the rows and bytes of the succeeded ones.
CREATE TABLE intake_step_hours (
    pipeline  text        NOT NULL,
    customer  text        NOT NULL,
    step      text        NOT NULL,
    hour      timestamptz NOT NULL,
    succeeded bigint      NOT NULL,
    failed    bigint      NOT NULL,
    rows_out  bigint      NOT NULL,
    bytes_in  bigint      NOT NULL,
    bytes_out bigint      NOT NULL,
    PRIMARY KEY (pipeline, customer, step, hour)
);

-- the chart: every pipeline's rows of the last days
CREATE INDEX intake_step_hours_step_hour ON intake_step_hours (step, hour);

-- Registered loads count in; an update moves a load from its old (status, kind) to its new one; a deleted load counts out.
CREATE FUNCTION intake_loads_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO intake_load_counts AS c (pipeline, customer, status, error_kind, loads)
        SELECT pipeline, customer, status, COALESCE(error_kind, ''), count(*) FROM intake_new_loads
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (pipeline, customer, status, error_kind) DO UPDATE SET loads = c.loads + excluded.loads;

        INSERT INTO intake_load_hours AS h (pipeline, customer, hour, loads, last_created_at)
        SELECT pipeline, customer, date_trunc('hour', created_at, 'UTC'), count(*), max(created_at) FROM intake_new_loads
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (pipeline, customer, hour) DO UPDATE SET loads = h.loads + excluded.loads, last_created_at = GREATEST(h.last_created_at, excluded.last_created_at);
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO intake_load_counts AS c (pipeline, customer, status, error_kind, loads)
        SELECT pipeline, customer, status, error_kind, sum(n) FROM (
            SELECT pipeline, customer, status, COALESCE(error_kind, '') AS error_kind, -1 AS n FROM intake_old_loads
            UNION ALL
            SELECT pipeline, customer, status, COALESCE(error_kind, ''), 1 FROM intake_new_loads) d
        GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0 ORDER BY 1, 2, 3, 4
        ON CONFLICT (pipeline, customer, status, error_kind) DO UPDATE SET loads = c.loads + excluded.loads;
    ELSE
        INSERT INTO intake_load_counts AS c (pipeline, customer, status, error_kind, loads)
        SELECT pipeline, customer, status, COALESCE(error_kind, ''), -count(*) FROM intake_old_loads
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (pipeline, customer, status, error_kind) DO UPDATE SET loads = c.loads + excluded.loads;

        -- the hour's count goes down; its newest registration stays what it was
        UPDATE intake_load_hours h SET loads = h.loads - d.loads
        FROM (SELECT pipeline, customer, date_trunc('hour', created_at, 'UTC') AS hour, count(*) AS loads FROM intake_old_loads GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) d
        WHERE h.pipeline = d.pipeline AND h.customer = d.customer AND h.hour = d.hour;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER intake_loads_rollup_insert AFTER INSERT ON intake_loads
    REFERENCING NEW TABLE AS intake_new_loads FOR EACH STATEMENT EXECUTE FUNCTION intake_loads_rollup();
CREATE TRIGGER intake_loads_rollup_update AFTER UPDATE ON intake_loads
    REFERENCING OLD TABLE AS intake_old_loads NEW TABLE AS intake_new_loads FOR EACH STATEMENT EXECUTE FUNCTION intake_loads_rollup();
CREATE TRIGGER intake_loads_rollup_delete AFTER DELETE ON intake_loads
    REFERENCING OLD TABLE AS intake_old_loads FOR EACH STATEMENT EXECUTE FUNCTION intake_loads_rollup();

-- A step attempt counts once, when it finishes (running -> succeeded or failed), in the hour it finished.
CREATE FUNCTION intake_steps_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO intake_step_hours AS s (pipeline, customer, step, hour, succeeded, failed, rows_out, bytes_in, bytes_out)
        SELECT l.pipeline, l.customer, n.step, date_trunc('hour', n.finished_at, 'UTC'),
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
        ON CONFLICT (pipeline, customer, step, hour) DO UPDATE SET
            succeeded = s.succeeded + excluded.succeeded, failed = s.failed + excluded.failed, rows_out = s.rows_out + excluded.rows_out,
            bytes_in = s.bytes_in + excluded.bytes_in, bytes_out = s.bytes_out + excluded.bytes_out;
    ELSE
        -- rows written already finished (an import), or deleted: +1 or -1 each
        INSERT INTO intake_step_hours AS s (pipeline, customer, step, hour, succeeded, failed, rows_out, bytes_in, bytes_out)
        SELECT l.pipeline, l.customer, n.step, date_trunc('hour', n.finished_at, 'UTC'),
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
        ON CONFLICT (pipeline, customer, step, hour) DO UPDATE SET
            succeeded = s.succeeded + excluded.succeeded, failed = s.failed + excluded.failed, rows_out = s.rows_out + excluded.rows_out,
            bytes_in = s.bytes_in + excluded.bytes_in, bytes_out = s.bytes_out + excluded.bytes_out;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER intake_steps_rollup_insert AFTER INSERT ON intake_steps
    REFERENCING NEW TABLE AS intake_changed_steps FOR EACH STATEMENT EXECUTE FUNCTION intake_steps_rollup();
CREATE TRIGGER intake_steps_rollup_update AFTER UPDATE ON intake_steps
    REFERENCING OLD TABLE AS intake_old_steps NEW TABLE AS intake_new_steps FOR EACH STATEMENT EXECUTE FUNCTION intake_steps_rollup();
CREATE TRIGGER intake_steps_rollup_delete AFTER DELETE ON intake_steps
    REFERENCING OLD TABLE AS intake_changed_steps FOR EACH STATEMENT EXECUTE FUNCTION intake_steps_rollup();

-- ---- The rollups of the loads and steps already in the catalog ----
INSERT INTO intake_load_counts (pipeline, customer, status, error_kind, loads)
SELECT pipeline, customer, status, COALESCE(error_kind, ''), count(*) FROM intake_loads GROUP BY 1, 2, 3, 4;

INSERT INTO intake_load_hours (pipeline, customer, hour, loads, last_created_at)
SELECT pipeline, customer, date_trunc('hour', created_at, 'UTC'), count(*), max(created_at) FROM intake_loads GROUP BY 1, 2, 3;

INSERT INTO intake_step_hours (pipeline, customer, step, hour, succeeded, failed, rows_out, bytes_in, bytes_out)
SELECT l.pipeline, l.customer, n.step, date_trunc('hour', n.finished_at, 'UTC'),
       count(*) FILTER (WHERE n.outcome = 'succeeded'),
       count(*) FILTER (WHERE n.outcome = 'failed' AND n.error_kind IS NOT NULL),
       COALESCE(sum(n.rows_out) FILTER (WHERE n.outcome = 'succeeded'), 0),
       COALESCE(sum(n.bytes_in) FILTER (WHERE n.outcome = 'succeeded'), 0),
       COALESCE(sum(n.bytes_out) FILTER (WHERE n.outcome = 'succeeded'), 0)
FROM intake_steps n JOIN intake_loads l ON l.id = n.load_id
WHERE n.outcome <> 'running' AND n.finished_at IS NOT NULL
GROUP BY 1, 2, 3, 4;
