-- Intake catalog, SQLite dialect: the operator lists in (created_at, id) order, and the web UI's session key ring.
-- Keep in step with Migrations/Postgres/0011_ui_windows_and_sessions.sql: same tables, columns and index names.

-- loads newest first by (created_at, id): a creation window is a range of this index read from its end
CREATE INDEX intake_loads_created_id ON intake_loads (created_at, id);
DROP INDEX intake_loads_created_at;
-- the same within one customer (a customer's key)
CREATE INDEX intake_loads_customer_created_id ON intake_loads (customer, created_at, id);

-- the web UI's session key ring (data protection XML elements), shared by every server on this catalog
CREATE TABLE intake_ui_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    xml        TEXT    NOT NULL,
    created_at TEXT    NOT NULL
) STRICT;
