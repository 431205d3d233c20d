-- Intake catalog, SQLite dialect: named leases (the exporter's lock per partition). Keep in step with
-- Migrations/Postgres/0006_locks.sql.
CREATE TABLE intake_locks (
    name       TEXT NOT NULL PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;
