-- Rows a step deliberately did not pass on, with the reason in its message (e.g. a merge that kept newer
-- versions of some rows), so that audit can account for every row: parsed = loaded = merged + rejected.
ALTER TABLE intake_steps ADD COLUMN rows_rejected INTEGER;
