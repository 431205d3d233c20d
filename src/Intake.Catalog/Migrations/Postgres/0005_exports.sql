-- Intake catalog, PostgreSQL dialect: the incremental exporter. Keep in step with Migrations/Sqlite/0005_exports.sql.

-- one row per export request; (pipeline, request_key) is the request's identity, derived from its content,
-- so the same request submitted twice at once (from two processes too) is queued once
CREATE TABLE intake_export_requests (
    id                      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline                text        NOT NULL,
    customer                text        NOT NULL,
    request_key             text        NOT NULL,
    export_type             text        NOT NULL CHECK (export_type IN ('instant', 'daily', 'hourly')),
    start_at                timestamptz,
    end_at                  timestamptz NOT NULL,
    ignore_last_export_time boolean     NOT NULL DEFAULT false,
    partitions              text, -- JSON array; NULL for every partition
    record_ids              text, -- JSON array; NULL when no record override
    records_key             text,
    tag                     text,
    redrive_count           integer     NOT NULL DEFAULT 0,
    redrive_of              text,
    not_before              timestamptz NOT NULL,
    requested_at            timestamptz NOT NULL,
    load_id                 bigint REFERENCES intake_loads (id),
    CONSTRAINT intake_export_requests_identity UNIQUE (pipeline, request_key)
);

-- requests waiting for their not_before (re-drives)
CREATE INDEX intake_export_requests_due ON intake_export_requests (pipeline, load_id, not_before);

-- one row per (request, partition): the latest outcome
CREATE TABLE intake_export_partitions (
    pipeline      text        NOT NULL,
    request_key   text        NOT NULL,
    partition_key text        NOT NULL,
    window_start  timestamptz,
    window_end    timestamptz,
    outcome       text        NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    rows_out      bigint      NOT NULL DEFAULT 0,
    rows_failed   bigint      NOT NULL DEFAULT 0,
    object_key    text,
    error         text,
    finished_at   timestamptz NOT NULL,
    PRIMARY KEY (pipeline, request_key, partition_key)
);
