#!/usr/bin/env bash
# Benchmark: the curve of `load.streams` (parallel COPY connections) for one big gzipped CSV into PostgreSQL.
# For each N in STREAMS (default "1 2 4"), on the same file in the same run:
#   - intake run --once with load.streams: N (SQLite catalog, local store, PostgreSQL warehouse): the load step's
#     time (from its step record) and the whole run's, and the peak memory;
#   - the bare tool at the same width: N psql `\copy` processes at once, each on 1/N of the decompressed file
#     (split beforehand, not timed): what the server itself reaches with N COPY connections.
# Checks every run's table against a single psql \copy of the file (row count and a checksum of every row, in id
# order) and exits non-zero on any difference.
#   bench/load-csv/streams.sh [ROWS]      (default 1000000; STREAMS="1 2 4 8 16" on a bigger machine; REPS=3)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
rows=${1:-1000000}
streams=${STREAMS:-1 2 4}
reps=${REPS:-3}
work=$(mktemp -d /tmp/intake-bench-streams-XXXX); chmod 755 "$work"   # the postgres user must reach its data folder
export INTAKE_SERVERS_DIR=$work/servers INTAKE_PG_PORT=${INTAKE_PG_PORT:-55441}
trap '"$repo/scripts/servers/postgres.sh" stop; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
eval "$("$repo/scripts/servers/postgres.sh" start)"; conn=$INTAKE_TEST_PG
psql_="psql -qAt -h 127.0.0.1 -p $INTAKE_PG_PORT -U postgres -d intake"
columns="property_id bigint not null, address text, city text, state text, zip text, price numeric, bedrooms integer, listed_on date, owner text, notes text"
checksum="select count(*) || ' ' || md5(string_agg(concat_ws('|', property_id, address, city, state, zip, price, bedrooms, listed_on, owner, notes), ',' order by property_id))"

echo "generating $rows rows..." >&2
mkdir -p "$work/incoming" "$work/parts"
python3 "$here/generate.py" "$rows" | gzip -6 > "$work/incoming/properties.csv.gz"
file="$work/incoming/properties.csv.gz"
size=$(stat -c %s "$file")
gzip -dc "$file" | tail -n +2 > "$work/plain.csv"

# The reference: one psql \copy of the whole file.
$psql_ -c "drop table if exists reference; create table reference ($columns)"
$psql_ -c "\\copy reference from program 'gzip -dc $file' with (format csv, header true)"
expected=$($psql_ -c "$checksum from reference")
[ "${expected%% *}" = "$rows" ] || { echo "reference load has ${expected%% *} rows, expected $rows" >&2; exit 1; }

"$repo/intake" --help >/dev/null   # build outside the measurement
now() { date +%s.%N; }
: > "$work/times"
for n in $streams; do
  rm -f "$work"/parts/*
  split -n "l/$n" -d "$work/plain.csv" "$work/parts/p"   # whole lines; the generated rows hold no line breaks
  project="$work/project-$n"; mkdir -p "$project/pipelines"
  cat > "$project/intake.yaml" <<YAML
catalog: { kind: sqlite, path: .intake/catalog.db }
stores: { local: { kind: local, root: .intake/store } }
warehouses: { pg: { kind: postgres, connection: "$conn" } }
defaults: { warehouse: pg }
YAML
  cat > "$project/pipelines/properties.yaml" <<YAML
name: properties
source: { kind: local, path: $project/incoming, stable_for: 0s }
steps: [${STEPS:-fetch, validate, archive, load}]
load:
  table: properties
  streams: $n
  columns: { property_id: bigint not null, address: text, city: text, state: text, zip: text, price: decimal, bedrooms: integer, listed_on: date, owner: text, notes: text }
YAML
  for r in $(seq "$reps"); do
    $psql_ -c "drop table if exists psql_n; drop table if exists properties; create table psql_n ($columns)"
    rm -rf "$project/.intake" "$project/incoming"; mkdir -p "$project/incoming"; cp "$file" "$project/incoming/"
    t0=$(now)
    for part in "$work"/parts/p*; do $psql_ -c "\\copy psql_n from '$part' with (format csv)" & done
    wait
    t1=$(now)
    ( cd "$project" && /usr/bin/time -f "%M" -o "$work/intake.mem" "$repo/intake" run --once --json > "$work/intake.json" 2>"$work/intake.log" )
    t2=$(now)
    got_psql=$($psql_ -c "$checksum from psql_n")
    got_intake=$($psql_ -c "$checksum from properties")
    [ "$got_psql" = "$expected" ] || { echo "N=$n: psql x$n table differs from the reference: $got_psql vs $expected" >&2; exit 1; }
    [ "$got_intake" = "$expected" ] || { echo "N=$n: intake table differs from the reference: $got_intake vs $expected" >&2; cat "$work/intake.log" >&2; exit 1; }
    load_secs=$(cd "$project" && "$repo/intake" show 1 --json | python3 -c "import json,sys,datetime as d; s=[x for x in json.load(sys.stdin)['steps'] if x['step']=='load' and x['outcome']=='succeeded'][0]; f=lambda t: d.datetime.fromisoformat(t); print((f(s['finished_at'])-f(s['started_at'])).total_seconds())")
    echo "$n $t0 $t1 $t2 $(cat "$work/intake.mem") $load_secs" >> "$work/times"
  done
done
python3 - "$rows" "$size" "$work/times" "$(nproc)" <<'PY'
import sys, statistics as st
rows, size, cores = int(sys.argv[1]), int(sys.argv[2]), sys.argv[4]
runs = [list(map(float, l.split())) for l in open(sys.argv[3])]
print(f"file: {rows:,} rows, {size/1e6:.1f} MB gzipped; {cores} cores; medians of the runs per N; every table checked against one psql \\copy")
print(f"{'N':>3}  {'psql xN (split)':>22}  {'intake load step':>22}  {'ratio':>6}  {'intake run --once':>22}  {'peak RSS':>8}")
base = None
for n in sorted({int(r[0]) for r in runs}):
    rs = [r for r in runs if int(r[0]) == n]
    ps = st.median(r[2] - r[1] for r in rs); ld = st.median(r[5] for r in rs); it = st.median(r[3] - r[2] for r in rs)
    base = base or ld
    print(f"{n:>3}  {ps:6.2f} s {rows/ps:11,.0f}/s  {ld:6.2f} s {rows/ld:11,.0f}/s  {ps/ld:5.2f}x  {it:6.2f} s {rows/it:11,.0f}/s  {max(r[4] for r in rs)/1024:6.0f} MB"
          f"   (load {base/ld:.2f}x N=1)")
PY
