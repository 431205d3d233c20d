-- Intake catalog, PostgreSQL dialect: the operator lists in (created_at, id) order, and the web UI's session key ring
-- shared by every server on this catalog. Keep in step with Migrations/Sqlite/0011_ui_windows_and_sessions.sql.

-- ---- Loads listed newest first by (created_at, id), the pair as the page cursor ----
-- A creation window, however far back, is then a range of this index read backwards from its end, stopping after
-- the page (walking the id index from the newest load skipped every load younger than the window). The old
-- (created_at) index is a prefix of it.
CREATE INDEX intake_loads_created_id ON intake_loads (created_at, id);
DROP INDEX intake_loads_created_at;
-- A customer's key always filters by its customer: the same range within the customer.
CREATE INDEX intake_loads_customer_created_id ON intake_loads (customer, created_at, id);

-- ---- The web UI's session keys ----
-- ASP.NET Core data protection's key ring (XML elements: keys and revocations), which signs and encrypts the UI's
-- session cookie and anti-forgery tokens. Kept here, the one thing every server process shares, so a restart does
-- not sign everyone out and any server behind a load balancer accepts a cookie another one issued. Elements are
-- only ever added; the framework itself retires keys (a new one every 90 days, old ones kept to read old cookies).
CREATE TABLE intake_ui_keys (
    id         bigserial   PRIMARY KEY,
    name       text        NOT NULL,
    xml        text        NOT NULL,
    created_at timestamptz NOT NULL
);
