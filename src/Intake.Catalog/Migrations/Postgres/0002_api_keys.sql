-- Intake catalog, PostgreSQL dialect: what the server hosts share. Keep in step with Migrations/Sqlite/0002_api_keys.sql.

-- API keys: only the SHA-256 of the key is stored; id is the key's public part, used to find the row.
CREATE TABLE intake_api_keys (
    id          text        PRIMARY KEY,
    secret_hash text        NOT NULL,
    customer    text        NOT NULL,
    scope       text        NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    name        text,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

-- one row per scheduled run: the primary key lets exactly one process take each (pipeline, time)
CREATE TABLE intake_schedule_runs (
    pipeline      text        NOT NULL,
    scheduled_for timestamptz NOT NULL,
    claimed_by    text        NOT NULL,
    claimed_at    timestamptz NOT NULL,
    PRIMARY KEY (pipeline, scheduled_for)
);

-- a row while the pipeline is paused
CREATE TABLE intake_pipeline_pauses (
    pipeline  text        PRIMARY KEY,
    paused_by text,
    paused_at timestamptz NOT NULL
);

-- job lists filter by customer and time, newest first
CREATE INDEX intake_loads_customer_id ON intake_loads (customer, id);
