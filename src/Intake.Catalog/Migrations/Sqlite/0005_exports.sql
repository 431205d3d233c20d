-- Intake catalog, SQLite dialect: the incremental exporter. Keep in step with Migrations/Postgres/0005_exports.sql.

-- one row per export request; (pipeline, request_key) is the request's identity, derived from its content,
-- so the same request submitted twice at once is queued once
CREATE TABLE intake_export_requests (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline                TEXT    NOT NULL,
    customer                TEXT    NOT NULL,
    request_key             TEXT    NOT NULL,
    export_type             TEXT    NOT NULL CHECK (export_type IN ('instant', 'daily', 'hourly')),
    start_at                TEXT,
    end_at                  TEXT    NOT NULL,
    ignore_last_export_time INTEGER NOT NULL DEFAULT 0,
    partitions              TEXT, -- JSON array; NULL for every partition
    record_ids              TEXT, -- JSON array; NULL when no record override
    records_key             TEXT,
    tag                     TEXT,
    redrive_count           INTEGER NOT NULL DEFAULT 0,
    redrive_of              TEXT,
    not_before              TEXT    NOT NULL,
    requested_at            TEXT    NOT NULL,
    load_id                 INTEGER REFERENCES intake_loads (id),
    CONSTRAINT intake_export_requests_identity UNIQUE (pipeline, request_key)
) STRICT;

-- requests waiting for their not_before (re-drives)
CREATE INDEX intake_export_requests_due ON intake_export_requests (pipeline, load_id, not_before);

-- one row per (request, partition): the latest outcome
CREATE TABLE intake_export_partitions (
    pipeline      TEXT    NOT NULL,
    request_key   TEXT    NOT NULL,
    partition_key TEXT    NOT NULL,
    window_start  TEXT,
    window_end    TEXT,
    outcome       TEXT    NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    rows_out      INTEGER NOT NULL DEFAULT 0,
    rows_failed   INTEGER NOT NULL DEFAULT 0,
    object_key    TEXT,
    error         TEXT,
    finished_at   TEXT    NOT NULL,
    PRIMARY KEY (pipeline, request_key, partition_key)
) STRICT;
