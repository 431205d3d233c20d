-- Intake catalog, SQLite dialect: inbox keys held by one load each. Keep in step with
-- Migrations/Postgres/0015_inbox_keys.sql, which says why.
CREATE TABLE intake_inbox_keys (
    inbox_key TEXT PRIMARY KEY,
    load_id   INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO intake_inbox_keys (inbox_key, load_id)
SELECT inbox_key, min(id) FROM intake_loads WHERE inbox_key IS NOT NULL GROUP BY inbox_key;
