-- Intake catalog, PostgreSQL dialect. Keep in step with Migrations/Sqlite/0001_initial.sql:
-- same tables, columns, constraints and index names; only the types differ.
-- Timestamps are timestamptz (UTC), written by the application's clock, truncated to the millisecond.

CREATE TABLE intake_loads (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline         text        NOT NULL,
    customer         text        NOT NULL,
    source_key       text        NOT NULL,
    fingerprint      text        NOT NULL,
    source_size      bigint,
    status           text        NOT NULL CHECK (status IN ('ready', 'ingesting', 'ready_for_archiving', 'archiving', 'archived',
                                                             'ready_for_erroring', 'erroring', 'errored', 'held')),
    held_reason      text,
    attempts         integer     NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_expires_at timestamptz,
    error_kind       text,
    error_message    text,
    inbox_key        text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    seen_count       integer     NOT NULL DEFAULT 1,
    -- a file seen twice is loaded once; a changed file under the same key is a new load
    CONSTRAINT intake_loads_identity UNIQUE (pipeline, source_key, fingerprint)
);

-- claim: oldest load in a status
CREATE INDEX intake_loads_status_id ON intake_loads (status, id);
-- listing and counting
CREATE INDEX intake_loads_created_at ON intake_loads (created_at);
CREATE INDEX intake_loads_pipeline_status ON intake_loads (pipeline, status);
CREATE INDEX intake_loads_customer ON intake_loads (customer);

-- one row per step attempt, append-only: only the running row is completed, once
CREATE TABLE intake_steps (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    load_id     bigint      NOT NULL REFERENCES intake_loads (id),
    step        text        NOT NULL,
    attempt     integer     NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    outcome     text        NOT NULL CHECK (outcome IN ('running', 'succeeded', 'failed')),
    error_kind  text,
    message     text,
    rows_in     bigint,
    rows_out    bigint,
    bytes_in    bigint,
    bytes_out   bigint,
    outputs     text, -- JSON array of output locations; NULL when none
    worker      text
);

CREATE INDEX intake_steps_load_id ON intake_steps (load_id, id);

-- per (pipeline, partition) high-water mark for incremental reads and exports
CREATE TABLE intake_watermarks (
    pipeline      text        NOT NULL,
    partition_key text        NOT NULL,
    value         text        NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (pipeline, partition_key)
);
