#!/usr/bin/env bash
# Benchmark: the Bridge incremental exporter. 1M records in 100 partitions (studies) of a PostgreSQL table,
# exported by `intake export --wait` (SQLite catalog, local store) to gzipped NDJSON, one object per partition,
# and by bare tools on the same data in the same run:
#   psql \copy (select row_to_json(t) from records t) to program 'gzip -1 > …'         (one file, no partitions)
#   the same per partition (100 \copy commands, one psql session)                      (what the exporter does)
# Prints records/s for each, the ratio and Intake's peak memory.
#   bench/export-bridge/run.sh [ROWS] [PARTITIONS]      (default 1000000 100)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
rows=${1:-1000000}; parts=${2:-100}
work=$(mktemp -d /tmp/intake-bench-XXXX); chmod 755 "$work"
export INTAKE_SERVERS_DIR=$work/servers INTAKE_PG_PORT=${INTAKE_PG_PORT:-55441}
trap '"$repo/scripts/servers/postgres.sh" stop; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
eval "$("$repo/scripts/servers/postgres.sh" start)"; conn=$INTAKE_TEST_PG
psql_="psql -qAt -h 127.0.0.1 -p $INTAKE_PG_PORT -U postgres -d intake"

echo "seeding $rows records in $parts partitions..." >&2
$psql_ <<SQL
create table records (id bigint primary key, study text not null, uploaded_on timestamptz not null, payload text, score double precision, valid boolean);
insert into records
  select g, 'study-' || lpad((g % $parts)::text, 3, '0'), timestamptz '2026-01-01' + (g * interval '1 second'),
         md5(g::text) || ' ' || repeat('x', g % 20), (g % 1000) / 7.0, g % 2 = 0
  from generate_series(1, $rows) g;
create index records_study_time on records (study, uploaded_on);
analyze records;
SQL

mkdir -p "$work/project/pipelines"
cat > "$work/project/intake.yaml" <<YAML
catalog: { kind: sqlite, path: .intake/catalog.db }
stores: { local: { kind: local, root: .intake/store } }
YAML
cat > "$work/project/pipelines/bridge.yaml" <<YAML
name: bridge
source:
  kind: database
  database: { kind: postgres, connection: "$conn" }
  table: records
  partition_column: study
  time_column: uploaded_on
  id_column: id
  default_start: 2025-12-31T00:00:00Z
steps: [export]
export: { format: ndjson }
YAML

"$repo/intake" --help >/dev/null   # build outside the measurement
end=2026-06-01T00:00:00Z
reps=${REPS:-3}
now() { date +%s.%N; }
: > "$work/times"
for r in $(seq "$reps"); do
  rm -rf "$work/project/.intake" "$work/psql"; mkdir -p "$work/psql/parts"
  t0=$(now)
  $psql_ -c "\\copy (select row_to_json(t) from records t) to program 'gzip -1 > $work/psql/all.ndjson.gz'"
  t1=$(now)
  $psql_ -At -c "select distinct study from records order by 1" | while read -r s; do
    echo "\\copy (select row_to_json(t) from records t where study = '$s' and uploaded_on >= '2025-12-31' and uploaded_on < '$end') to program 'gzip -1 > $work/psql/parts/$s.ndjson.gz'"
  done > "$work/psql/parts.sql"
  t2=$(now)
  $psql_ -f "$work/psql/parts.sql"
  t3=$(now)
  ( cd "$work/project" && /usr/bin/time -f "%M" -o "$work/intake.mem" "$repo/intake" export bridge --end "$end" --wait --json > "$work/intake.json" 2>"$work/intake.log" )
  t4=$(now)
  exported=$(python3 -c "import json,sys; d=json.load(open('$work/intake.json')); print(sum(p['rows'] for p in d['partitions']))")
  objects=$(find "$work/project/.intake/store/exports" -name '*.ndjson.gz' | wc -l)
  check=$(find "$work/project/.intake/store/exports" -name '*.ndjson.gz' -exec zcat {} + | wc -l)
  step_secs=$(cd "$work/project" && "$repo/intake" show 1 --json | python3 -c "import json,sys,datetime as d; s=[x for x in json.load(sys.stdin)['steps'] if x['step']=='export' and x['outcome']=='succeeded'][0]; f=lambda t: d.datetime.fromisoformat(t); print((f(s['finished_at'])-f(s['started_at'])).total_seconds())")
  echo "$t0 $t1 $t3 $t4 $exported $check $objects $(cat "$work/intake.mem") $step_secs $t2" >> "$work/times"
done
python3 - "$rows" "$parts" "$work/times" <<'PY'
import sys, statistics as st
rows, parts = int(sys.argv[1]), int(sys.argv[2])
runs = [list(map(float, l.split())) for l in open(sys.argv[3])]
for r in runs:
    assert int(r[4]) == rows and int(r[5]) == rows and int(r[6]) == parts, f"intake exported {int(r[4])} rows ({int(r[5])} lines in {int(r[6])} objects), expected {rows} in {parts}"
whole = [r[1] - r[0] for r in runs]; per = [r[2] - r[9] for r in runs]; it = [r[3] - r[2] for r in runs]; step = [r[8] for r in runs]
m = st.median
print(f"{rows:,} records in {parts} partitions; {len(runs)} runs, medians (gzip level 1 / Fastest everywhere)")
print(f"psql \\copy row_to_json | gzip, whole table   : {m(whole):6.2f} s  {rows/m(whole):10,.0f} records/s   runs: {' '.join(f'{x:.2f}' for x in whole)}")
print(f"psql \\copy row_to_json | gzip, per partition : {m(per):6.2f} s  {rows/m(per):10,.0f} records/s   runs: {' '.join(f'{x:.2f}' for x in per)}")
print(f"intake export --wait (process, all of it)    : {m(it):6.2f} s  {rows/m(it):10,.0f} records/s   runs: {' '.join(f'{x:.2f}' for x in it)}   {m(whole)/m(it):.2f}x whole-table psql")
print(f"intake export step alone                     : {m(step):6.2f} s  {rows/m(step):10,.0f} records/s   runs: {' '.join(f'{x:.2f}' for x in step)}")
print(f"intake peak memory (RSS)                     : {max(r[7] for r in runs)/1024:.0f} MB (largest of the runs)")
PY
