-- Intake catalog, SQLite dialect: what the operator UI's Loads, Overview and Errors pages read. Keep in step with
-- Migrations/Postgres/0010_operator_queries.sql: same tables, columns and index names. SQLite has no trigram index:
-- a search by a part of the key reads the loads newest first until the page is full.

-- exact key and prefix (GLOB 'prefix*' reads this index: BINARY collation)
CREATE INDEX intake_loads_source_key ON intake_loads (source_key);

-- the error kind filter, newest first; only loads with an error are in it
CREATE INDEX intake_loads_error_kind_id ON intake_loads (error_kind, id) WHERE error_kind IS NOT NULL;

-- the errored loads only: per pipeline and kind, oldest and newest, and the last 24 hours
CREATE INDEX intake_loads_errored_kind ON intake_loads (pipeline, customer, error_kind, updated_at, id) WHERE status = 'errored';
CREATE INDEX intake_loads_errored_time ON intake_loads (pipeline, customer, updated_at) WHERE status = 'errored';

-- ---- Rollups, kept by triggers in the statement that changes a load or finishes a step ----
-- (SQLite has one writer at a time, so row-level triggers cannot deadlock.)

-- loads per pipeline, customer, status and error kind ('' for none)
CREATE TABLE intake_load_counts (
    pipeline   TEXT    NOT NULL,
    customer   TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    error_kind TEXT    NOT NULL,
    loads      INTEGER NOT NULL,
    PRIMARY KEY (pipeline, customer, status, error_kind)
) STRICT;

-- loads registered per pipeline, customer and hour (UTC) of created_at, and the newest registration
CREATE TABLE intake_load_hours (
    pipeline        TEXT    NOT NULL,
    customer        TEXT    NOT NULL,
    hour            TEXT    NOT NULL,
    loads           INTEGER NOT NULL,
    last_created_at TEXT    NOT NULL,
    PRIMARY KEY (pipeline, customer, hour)
) STRICT;

-- finished step attempts per pipeline, customer, step and hour (UTC) of finished_at
CREATE TABLE intake_step_hours (
    pipeline  TEXT    NOT NULL,
    customer  TEXT    NOT NULL,
    step      TEXT    NOT NULL,
    hour      TEXT    NOT NULL,
    succeeded INTEGER NOT NULL,
    failed    INTEGER NOT NULL,
    rows_out  INTEGER NOT NULL,
    bytes_in  INTEGER NOT NULL,
    bytes_out INTEGER NOT NULL,
    PRIMARY KEY (pipeline, customer, step, hour)
) STRICT;

CREATE INDEX intake_step_hours_step_hour ON intake_step_hours (step, hour);

-- Times are fixed-width text ('2026-01-31T23:59:59.123Z'): the hour is its first 13 characters.
CREATE TRIGGER intake_loads_rollup_insert AFTER INSERT ON intake_loads
BEGIN
    INSERT INTO intake_load_counts (pipeline, customer, status, error_kind, loads)
    VALUES (new.pipeline, new.customer, new.status, COALESCE(new.error_kind, ''), 1)
    ON CONFLICT (pipeline, customer, status, error_kind) DO UPDATE SET loads = loads + 1;
    INSERT INTO intake_load_hours (pipeline, customer, hour, loads, last_created_at)
    VALUES (new.pipeline, new.customer, substr(new.created_at, 1, 13) || ':00:00.000Z', 1, new.created_at)
    ON CONFLICT (pipeline, customer, hour) DO UPDATE SET loads = loads + 1, last_created_at = max(last_created_at, excluded.last_created_at);
END;

CREATE TRIGGER intake_loads_rollup_update AFTER UPDATE OF pipeline, customer, status, error_kind ON intake_loads
WHEN old.pipeline IS NOT new.pipeline OR old.customer IS NOT new.customer OR old.status IS NOT new.status OR old.error_kind IS NOT new.error_kind
BEGIN
    UPDATE intake_load_counts SET loads = loads - 1
    WHERE pipeline = old.pipeline AND customer = old.customer AND status = old.status AND error_kind = COALESCE(old.error_kind, '');
    INSERT INTO intake_load_counts (pipeline, customer, status, error_kind, loads)
    VALUES (new.pipeline, new.customer, new.status, COALESCE(new.error_kind, ''), 1)
    ON CONFLICT (pipeline, customer, status, error_kind) DO UPDATE SET loads = loads + 1;
END;

CREATE TRIGGER intake_loads_rollup_delete AFTER DELETE ON intake_loads
BEGIN
    UPDATE intake_load_counts SET loads = loads - 1
    WHERE pipeline = old.pipeline AND customer = old.customer AND status = old.status AND error_kind = COALESCE(old.error_kind, '');
    UPDATE intake_load_hours SET loads = loads - 1
    WHERE pipeline = old.pipeline AND customer = old.customer AND hour = substr(old.created_at, 1, 13) || ':00:00.000Z';
END;

-- A step attempt counts once, when it finishes (running -> succeeded or failed), in the hour it finished.
CREATE TRIGGER intake_steps_rollup_update AFTER UPDATE OF outcome ON intake_steps
WHEN old.outcome = 'running' AND new.outcome <> 'running' AND new.finished_at IS NOT NULL
BEGIN
    INSERT INTO intake_step_hours (pipeline, customer, step, hour, succeeded, failed, rows_out, bytes_in, bytes_out)
    SELECT l.pipeline, l.customer, new.step, substr(new.finished_at, 1, 13) || ':00:00.000Z',
           new.outcome = 'succeeded', new.outcome = 'failed' AND new.error_kind IS NOT NULL,
           CASE WHEN new.outcome = 'succeeded' THEN COALESCE(new.rows_out, 0) ELSE 0 END,
           CASE WHEN new.outcome = 'succeeded' THEN COALESCE(new.bytes_in, 0) ELSE 0 END,
           CASE WHEN new.outcome = 'succeeded' THEN COALESCE(new.bytes_out, 0) ELSE 0 END
    FROM intake_loads l WHERE l.id = new.load_id
    ON CONFLICT (pipeline, customer, step, hour) DO UPDATE SET
        succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed, rows_out = rows_out + excluded.rows_out,
        bytes_in = bytes_in + excluded.bytes_in, bytes_out = bytes_out + excluded.bytes_out;
END;

-- rows written already finished (an import) count in; deleted ones count out
CREATE TRIGGER intake_steps_rollup_insert AFTER INSERT ON intake_steps
WHEN new.outcome <> 'running' AND new.finished_at IS NOT NULL
BEGIN
    INSERT INTO intake_step_hours (pipeline, customer, step, hour, succeeded, failed, rows_out, bytes_in, bytes_out)
    SELECT l.pipeline, l.customer, new.step, substr(new.finished_at, 1, 13) || ':00:00.000Z',
           new.outcome = 'succeeded', new.outcome = 'failed' AND new.error_kind IS NOT NULL,
           CASE WHEN new.outcome = 'succeeded' THEN COALESCE(new.rows_out, 0) ELSE 0 END,
           CASE WHEN new.outcome = 'succeeded' THEN COALESCE(new.bytes_in, 0) ELSE 0 END,
           CASE WHEN new.outcome = 'succeeded' THEN COALESCE(new.bytes_out, 0) ELSE 0 END
    FROM intake_loads l WHERE l.id = new.load_id
    ON CONFLICT (pipeline, customer, step, hour) DO UPDATE SET
        succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed, rows_out = rows_out + excluded.rows_out,
        bytes_in = bytes_in + excluded.bytes_in, bytes_out = bytes_out + excluded.bytes_out;
END;

CREATE TRIGGER intake_steps_rollup_delete AFTER DELETE ON intake_steps
WHEN old.outcome <> 'running' AND old.finished_at IS NOT NULL
BEGIN
    UPDATE intake_step_hours SET
        succeeded = succeeded - (old.outcome = 'succeeded'),
        failed = failed - (old.outcome = 'failed' AND old.error_kind IS NOT NULL),
        rows_out = rows_out - CASE WHEN old.outcome = 'succeeded' THEN COALESCE(old.rows_out, 0) ELSE 0 END,
        bytes_in = bytes_in - CASE WHEN old.outcome = 'succeeded' THEN COALESCE(old.bytes_in, 0) ELSE 0 END,
        bytes_out = bytes_out - CASE WHEN old.outcome = 'succeeded' THEN COALESCE(old.bytes_out, 0) ELSE 0 END
    WHERE step = old.step AND hour = substr(old.finished_at, 1, 13) || ':00:00.000Z'
      AND (pipeline, customer) = (SELECT l.pipeline, l.customer FROM intake_loads l WHERE l.id = old.load_id);
END;

-- ---- The rollups of the loads and steps already in the catalog ----
INSERT INTO intake_load_counts (pipeline, customer, status, error_kind, loads)
SELECT pipeline, customer, status, COALESCE(error_kind, ''), count(*) FROM intake_loads
GROUP BY pipeline, customer, status, COALESCE(error_kind, '');

INSERT INTO intake_load_hours (pipeline, customer, hour, loads, last_created_at)
SELECT pipeline, customer, substr(created_at, 1, 13) || ':00:00.000Z', count(*), max(created_at) FROM intake_loads
GROUP BY pipeline, customer, substr(created_at, 1, 13);

INSERT INTO intake_step_hours (pipeline, customer, step, hour, succeeded, failed, rows_out, bytes_in, bytes_out)
SELECT l.pipeline, l.customer, n.step, substr(n.finished_at, 1, 13) || ':00:00.000Z',
       sum(n.outcome = 'succeeded'), sum(n.outcome = 'failed' AND n.error_kind IS NOT NULL),
       COALESCE(sum(CASE WHEN n.outcome = 'succeeded' THEN n.rows_out END), 0),
       COALESCE(sum(CASE WHEN n.outcome = 'succeeded' THEN n.bytes_in END), 0),
       COALESCE(sum(CASE WHEN n.outcome = 'succeeded' THEN n.bytes_out END), 0)
FROM intake_steps n JOIN intake_loads l ON l.id = n.load_id
WHERE n.outcome <> 'running' AND n.finished_at IS NOT NULL
GROUP BY l.pipeline, l.customer, n.step, substr(n.finished_at, 1, 13);
