-- Intake catalog, PostgreSQL dialect: inbox keys held by one load each. Keep in step with
-- Migrations/Sqlite/0015_inbox_keys.sql.

-- A key template without {load} (the default's <received yyyyMMdd_HHmmss>/<name>) gives two files of one name the same
-- key when they are registered in the same second, or whenever the template has no time in it. Registration renders
-- such a key and holds it here; a load that finds its key held by another gets its own id as a folder before the file
-- name. The primary key makes the hold race-free between discovery processes: a second insert of a key waits for the
-- first transaction and then finds it taken.
CREATE TABLE intake_inbox_keys (
    inbox_key text PRIMARY KEY,
    load_id   bigint NOT NULL
);

-- The originals recorded before this version keep their keys: a new file of the same name is not given one of them.
INSERT INTO intake_inbox_keys (inbox_key, load_id)
SELECT inbox_key, min(id) FROM intake_loads WHERE inbox_key IS NOT NULL GROUP BY inbox_key;
