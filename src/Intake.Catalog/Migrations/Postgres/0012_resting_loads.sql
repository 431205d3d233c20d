-- Intake catalog, PostgreSQL dialect: the loads an operator looks for by status. Keep in step with
-- Migrations/Sqlite/0012_resting_loads.sql.

-- Held and errored loads wait for a person; the Loads page and the API list them by status, newest first, often with a
-- customer or a key prefix as well. Walking the (created_at, id) index for them reads past every archived load (held
-- loads are well under 1% of a catalog), so they get their own index in the list's order. Partial: a load that never
-- rests (ready → ingesting → … → archived) never enters it, so the hot path pays nothing for it.
CREATE INDEX intake_loads_resting ON intake_loads (status, created_at, id) WHERE status IN ('held', 'errored');
