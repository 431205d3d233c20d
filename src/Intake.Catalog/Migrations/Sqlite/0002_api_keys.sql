-- Intake catalog, SQLite dialect: what the server hosts share. Keep in step with Migrations/Postgres/0002_api_keys.sql.

-- API keys: only the SHA-256 of the key is stored; id is the key's public part, used to find the row.
CREATE TABLE intake_api_keys (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    customer    TEXT NOT NULL,
    scope       TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    name        TEXT,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
) STRICT;

-- one row per scheduled run: the primary key lets exactly one process take each (pipeline, time)
CREATE TABLE intake_schedule_runs (
    pipeline      TEXT NOT NULL,
    scheduled_for TEXT NOT NULL, -- fixed-width UTC text, so text order is time order
    claimed_by    TEXT NOT NULL,
    claimed_at    TEXT NOT NULL,
    PRIMARY KEY (pipeline, scheduled_for)
) STRICT;

-- a row while the pipeline is paused
CREATE TABLE intake_pipeline_pauses (
    pipeline  TEXT PRIMARY KEY,
    paused_by TEXT,
    paused_at TEXT NOT NULL
) STRICT;

-- job lists filter by customer and time, newest first
CREATE INDEX intake_loads_customer_id ON intake_loads (customer, id);
