#!/usr/bin/env bash
# Benchmark: a 1M-row gzipped CSV loaded into PostgreSQL by `intake run --once` (SQLite catalog,
# local store, PostgreSQL warehouse with binary COPY) and by `psql \copy ... FROM PROGRAM 'gzip -dc'`,
# on the same file in the same run. Prints rows/s for both, the ratio and Intake's peak memory.
#   bench/load-csv/run.sh [ROWS]      (default 1000000)
# The pipeline streams the gzipped original into COPY (no decompress step), as psql's FROM PROGRAM does;
# STEPS='fetch, decompress, validate, archive, load' measures the path through the work area.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
rows=${1:-1000000}
work=$(mktemp -d /tmp/intake-bench-XXXX); chmod 755 "$work"   # the postgres user must reach its data folder
export INTAKE_SERVERS_DIR=$work/servers INTAKE_PG_PORT=${INTAKE_PG_PORT:-55439}
trap '"$repo/scripts/servers/postgres.sh" stop; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
eval "$("$repo/scripts/servers/postgres.sh" start)"; conn=$INTAKE_TEST_PG
psql_="psql -qAt -h 127.0.0.1 -p $INTAKE_PG_PORT -U postgres -d intake"

echo "generating $rows rows..." >&2
mkdir -p "$work/project/incoming" "$work/project/pipelines"
python3 - "$rows" <<'PY' | gzip -6 > "$work/project/incoming/properties.csv.gz"
import sys, random
random.seed(1)
n = int(sys.argv[1]); w = sys.stdout.write
w("property_id,address,city,state,zip,price,bedrooms,listed_on,owner,notes\n")
cities = ["Springfield", "Portland", "Austin", "Madison", "Raleigh", "Boise", "Tulsa"]
for i in range(1, n + 1):
    w(f"{i},{random.randint(1,9999)} Oak St,{random.choice(cities)},TX,{random.randint(10000,99999)},{random.randint(80,2000)*1000}.00,{random.randint(1,6)},2024-0{random.randint(1,9)}-1{random.randint(0,9)},Owner {i % 5000},\"note, with comma {i % 97}\"\n")
PY
file="$work/project/incoming/properties.csv.gz"
size=$(stat -c %s "$file")

cat > "$work/project/intake.yaml" <<YAML
catalog: { kind: sqlite, path: .intake/catalog.db }
stores: { local: { kind: local, root: .intake/store } }
warehouses: { pg: { kind: postgres, connection: "$conn" } }
defaults: { warehouse: pg }
YAML
cat > "$work/project/pipelines/properties.yaml" <<YAML
name: properties
source: { kind: local, path: ../incoming, stable_for: 0s }
steps: [${STEPS:-fetch, validate, archive, load}]
load:
  table: properties
  columns: { property_id: bigint not null, address: text, city: text, state: text, zip: text, price: decimal, bedrooms: integer, listed_on: date, owner: text, notes: text }
YAML

"$repo/intake" --help >/dev/null   # build outside the measurement
reps=${REPS:-3}
now() { date +%s.%N; }
: > "$work/times"
for r in $(seq "$reps"); do
  $psql_ -c "drop table if exists psql_properties; drop table if exists properties; create table psql_properties (property_id bigint not null, address text, city text, state text, zip text, price numeric, bedrooms integer, listed_on date, owner text, notes text)"
  rm -rf "$work/project/.intake"
  t0=$(now)
  $psql_ -c "\\copy psql_properties from program 'gzip -dc $file' with (format csv, header true)"
  t1=$(now)
  ( cd "$work/project" && /usr/bin/time -f "%M" -o "$work/intake.mem" "$repo/intake" run --once --json > "$work/intake.json" 2>"$work/intake.log" )
  t2=$(now)
  psql_rows=$($psql_ -c "select count(*) from psql_properties")
  intake_rows=$($psql_ -c "select count(*) from properties")
  load_secs=$(cd "$work/project" && "$repo/intake" show 1 --json | python3 -c "import json,sys,datetime as d; s=[x for x in json.load(sys.stdin)['steps'] if x['step']=='load' and x['outcome']=='succeeded'][0]; f=lambda t: d.datetime.fromisoformat(t); print((f(s['finished_at'])-f(s['started_at'])).total_seconds())")
  echo "$t0 $t1 $t2 $psql_rows $intake_rows $(cat "$work/intake.mem") $load_secs" >> "$work/times"
done
python3 - "$rows" "$size" "$work/times" <<'PY2'
import sys, statistics as st
rows, size = int(sys.argv[1]), int(sys.argv[2])
runs = [list(map(float, l.split())) for l in open(sys.argv[3])]
ps = [r[1] - r[0] for r in runs]; it = [r[2] - r[1] for r in runs]; ld = [r[6] for r in runs]
for r in runs:
    assert int(r[3]) == rows and int(r[4]) == rows, f"row counts differ: psql {int(r[3])}, intake {int(r[4])}, expected {rows}"
m = st.median
print(f"file: {rows:,} rows, {size/1e6:.1f} MB gzipped; {len(runs)} runs, medians (each run: psql then intake on a fresh table)")
print(f"psql \\copy FROM PROGRAM gzip -dc : {m(ps):6.2f} s  {rows/m(ps):12,.0f} rows/s   runs: {' '.join(f'{x:.2f}' for x in ps)}")
print(f"intake run --once (all steps)  : {m(it):6.2f} s  {rows/m(it):12,.0f} rows/s   runs: {' '.join(f'{x:.2f}' for x in it)}   ratio {m(ps)/m(it):.2f}x psql")
print(f"intake load step alone         : {m(ld):6.2f} s  {rows/m(ld):12,.0f} rows/s   runs: {' '.join(f'{x:.2f}' for x in ld)}   ratio {m(ps)/m(ld):.2f}x psql")
print(f"intake peak memory (RSS)       : {max(r[5] for r in runs)/1024:.0f} MB (largest of the runs)")
PY2
