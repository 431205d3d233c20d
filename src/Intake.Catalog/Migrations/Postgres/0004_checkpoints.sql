-- Intake catalog, PostgreSQL dialect: progress of a step inside one load (the HTTP pull's cursor). Keep in step
-- with Migrations/Sqlite/0004_checkpoints.sql.
CREATE TABLE intake_checkpoints (
    load_id    bigint NOT NULL REFERENCES intake_loads (id),
    step       text NOT NULL,
    state      text NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (load_id, step)
);
