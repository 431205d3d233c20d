-- Intake catalog, SQLite dialect. Keep in step with Migrations/Postgres/0014_sharded_rollups.sql, which spreads
-- PostgreSQL's load counts and hourly step figures over shards so that concurrent transactions do not queue on the
-- same counter rows. SQLite writes one transaction at a time: nothing to change here; the version is recorded so both
-- dialects stay at the same schema version. The readers sum the counts of a key, as they must on PostgreSQL.
SELECT 1;
