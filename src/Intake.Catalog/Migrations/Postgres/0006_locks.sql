-- Intake catalog, PostgreSQL dialect: named leases (the exporter's lock per partition). Keep in step with
-- Migrations/Sqlite/0006_locks.sql.
CREATE TABLE intake_locks (
    name       text NOT NULL PRIMARY KEY,
    owner      text NOT NULL,
    expires_at timestamptz NOT NULL
);
