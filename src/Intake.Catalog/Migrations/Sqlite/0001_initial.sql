-- Intake catalog, SQLite dialect. Keep in step with Migrations/Postgres/0001_initial.sql:
-- same tables, columns, constraints and index names; only the types differ.
-- STRICT tables reject a value of the wrong type instead of storing it silently.
-- Timestamps are UTC ISO-8601 text of fixed width ('2026-01-31T23:59:59.123Z'), so text order is time order.

CREATE TABLE intake_loads (
    id               INTEGER PRIMARY KEY AUTOINCREMENT, -- AUTOINCREMENT: ids never reused, so id order is registration order
    pipeline         TEXT    NOT NULL,
    customer         TEXT    NOT NULL,
    source_key       TEXT    NOT NULL,
    fingerprint      TEXT    NOT NULL,
    source_size      INTEGER,
    status           TEXT    NOT NULL CHECK (status IN ('ready', 'ingesting', 'ready_for_archiving', 'archiving', 'archived',
                                                         'ready_for_erroring', 'erroring', 'errored', 'held')),
    held_reason      TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_expires_at TEXT,
    error_kind       TEXT,
    error_message    TEXT,
    inbox_key        TEXT,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    seen_count       INTEGER NOT NULL DEFAULT 1,
    -- a file seen twice is loaded once; a changed file under the same key is a new load
    CONSTRAINT intake_loads_identity UNIQUE (pipeline, source_key, fingerprint)
) STRICT;

-- claim: oldest load in a status
CREATE INDEX intake_loads_status_id ON intake_loads (status, id);
-- listing and counting
CREATE INDEX intake_loads_created_at ON intake_loads (created_at);
CREATE INDEX intake_loads_pipeline_status ON intake_loads (pipeline, status);
CREATE INDEX intake_loads_customer ON intake_loads (customer);

-- one row per step attempt, append-only: only the running row is completed, once
CREATE TABLE intake_steps (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    load_id     INTEGER NOT NULL REFERENCES intake_loads (id),
    step        TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('running', 'succeeded', 'failed')),
    error_kind  TEXT,
    message     TEXT,
    rows_in     INTEGER,
    rows_out    INTEGER,
    bytes_in    INTEGER,
    bytes_out   INTEGER,
    outputs     TEXT, -- JSON array of output locations; NULL when none
    worker      TEXT
) STRICT;

CREATE INDEX intake_steps_load_id ON intake_steps (load_id, id);

-- per (pipeline, partition) high-water mark for incremental reads and exports
CREATE TABLE intake_watermarks (
    pipeline      TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    value         TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (pipeline, partition_key)
) STRICT;
