-- Intake catalog, SQLite dialect: progress of a step inside one load (the HTTP pull's cursor). Keep in step with
-- Migrations/Postgres/0004_checkpoints.sql.
CREATE TABLE intake_checkpoints (
    load_id    INTEGER NOT NULL REFERENCES intake_loads (id),
    step       TEXT NOT NULL,
    state      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (load_id, step)
) STRICT;
