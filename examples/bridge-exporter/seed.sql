-- The Bridge example's source: three studies (one deleted) and their uploaded health records.
DROP TABLE IF EXISTS health_records, studies;
CREATE TABLE studies (study_id text PRIMARY KEY, name text NOT NULL, deleted boolean NOT NULL DEFAULT false);
INSERT INTO studies VALUES ('heart', 'Heart study', false), ('sleep', 'Sleep study', false), ('old', 'Closed study', true);
CREATE TABLE health_records (
    record_id   bigint PRIMARY KEY,
    study_id    text NOT NULL REFERENCES studies,
    uploaded_on timestamptz NOT NULL,
    participant text NOT NULL,
    data        jsonb
);
-- 3,000 records, one every 20 minutes from 2026-01-01, spread over the studies
INSERT INTO health_records
SELECT g, (ARRAY['heart', 'sleep', 'old'])[1 + g % 3], timestamptz '2026-01-01' + g * interval '20 minutes',
       'p' || (g % 50), jsonb_build_object('steps', g * 7 % 10000, 'hr', 60 + g % 40)
FROM generate_series(1, 3000) g;
CREATE INDEX health_records_study_time ON health_records (study_id, uploaded_on);
