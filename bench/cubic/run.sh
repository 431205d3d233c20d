#!/usr/bin/env bash
# Benchmark of the Cubic slice, in two parts, each against the bare tools in the same run:
#
# 1. ODS change tracking: TABLES tables, each a snapshot of KEYS rows, then FILES change files of ROWS rows in all
#    (inserts, updates with and without before-images, deletes; ids changed several times), applied into
#    current-state tables by `intake run --once` (tables_from_prefix + cubic.ods: local source, PostgreSQL catalog and
#    warehouse), against psql applying the same gzipped files with plain SQL in one session: the snapshot by \copy,
#    then per change file one transaction that \copies it into a temp table, appends it to the change table, and
#    deletes / INSERT … ON CONFLICT the last change of each id into the current table, files in name order. Both
#    current tables must hold the same rows (and the generator's count of live ids), or the script fails.
# 2. Streams: `intake serve` with a stream whose pipeline is paused (so only accepting is measured), RECORDS records
#    posted per run by curl (-Z: CONCURRENCY connections, BATCH records per request) for each BATCH:CONCURRENCY pair of
#    STREAM_RUNS; records/s acknowledged (200 = fsynced), then where the time goes: the same requests with one bad
#    record at the end (answered 400 after every record is checked, nothing written: HTTP + JSON check without the
#    spool), the server's CPU per record, and how many fsyncs a second the spool's disk does by itself. At the end
#    every acknowledged record must be in the spool or a batch file exactly once.
#
#   bench/cubic/run.sh                        FILES=1000 ROWS=1000 TABLES=10 KEYS=10000 RECORDS=1000000
#   FILES=20 ROWS=100 RECORDS=20000 bench/cubic/run.sh      a quick check that it works
#   PART=ods | PART=streams                  only one part
# The rate limit is off for the stream runs: the default (6000 requests a minute per key) caps one key at
# 100 requests/s, which at 1,000 records a request is 100,000 records/s by itself.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
FILES=${FILES:-1000} ROWS=${ROWS:-1000} TABLES=${TABLES:-10} KEYS=${KEYS:-10000}
RECORDS=${RECORDS:-1000000} STREAM_RUNS=${STREAM_RUNS:-"1000:4 1000:16 5000:4 5000:16"} PART=${PART:-all}
work=$(mktemp -d /tmp/intake-bench-cubic-XXXX); chmod 755 "$work"   # the postgres user must reach its data folder
export INTAKE_SERVERS_DIR=$work/servers INTAKE_PG_PORT=${INTAKE_PG_PORT:-55446}
unset INTAKE_TEST_PG
serve_pid=""
cleanup() {
  if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  "$repo/scripts/servers/postgres.sh" stop
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
env_lines=$("$repo/scripts/servers/postgres.sh" start) || { echo "bench: PostgreSQL did not start" >&2; exit 1; }
eval "$(grep "^export " <<<"$env_lines")"
pg="Host=127.0.0.1;Port=$INTAKE_PG_PORT;Username=postgres"
psql_() { psql -qAtX -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$INTAKE_PG_PORT" -U postgres "$@"; }
psql_ -d postgres -c "create database catalog" -c "create database psql_baseline"
"$repo/intake" --help >/dev/null   # build outside the measurement
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
project=$work/project
mkdir -p "$project/pipelines" "$project/incoming" "$project/stream"
keys_yaml=$(for t in $(seq 0 $((TABLES - 1))); do printf '      cubic__ods_qlik__t%02d: [id]\n' "$t"; done)
cat >"$project/intake.yaml" <<YAML
catalog: { kind: postgres, connection: "$pg;Database=catalog" }
stores: { local: { kind: local, root: .intake/store } }
warehouses: { pg: { kind: postgres, connection: "$pg;Database=intake" } }
defaults: { warehouse: pg, customer: cubic }
streams:
  sample: { pipeline: stream, prefix: sample/ }
YAML
cat >"$project/pipelines/cubic.yaml" <<YAML
name: cubic
source: { kind: local, path: ../incoming, stable_for: 0s, tables_from_prefix: { root: cubic/, depth: 3 } }
steps: [fetch, load]
cubic:
  ods:
    tables: ["cubic__ods_qlik__*"]
    keys:
$keys_yaml
YAML
cat >"$project/pipelines/stream.yaml" <<YAML
name: stream
source: { kind: local, path: ../stream, stable_for: 0s }
format: ndjson
ndjson: { files: ["**/*.json"] }
steps: [fetch, load]
load: { table: stream_sample }
YAML
intake() { (cd "$project" && "$repo/intake" "$@"); }
intake validate >/dev/null

ods() {
  echo "generating $TABLES tables of $KEYS rows and $FILES change files of $ROWS rows (gzipped CSV)..." >&2
  python3 "$here/gen.py" "$work/data" "$TABLES" "$KEYS" "$FILES" "$ROWS"
  local data=$work/data/cubic/ods_qlik cols="id text, name text, amount text, city text, updated_at text"
  local ct_cols="header__change_seq text, header__change_oper text, header__timestamp text, $cols"
  # psql: the same work in one session, as a script generated up front (its generation is not timed).
  {
    echo "\\set ON_ERROR_STOP 1"
    for dir in "$data"/T??; do
      local t; t=$(basename "$dir" | tr 'T' 't')
      echo "create table $t ($cols); create table ${t}__ct ($ct_cols);"
      echo "\\copy $t from program 'gzip -dc $dir/LOAD00000001.csv.gz' with (format csv, header true)"
      echo "create table ${t}__current as select *, null::text as change_seq from $t; alter table ${t}__current add primary key (id);"
    done
  } >"$work/snapshot.sql"
  {
    echo "\\set ON_ERROR_STOP 1"
    # every change file of a table in name order; the tables one after another, as each is independent
    for dir in "$data"/T??__ct; do
      local t; t=$(basename "$dir" __ct | tr 'T' 't')
      for f in "$dir"/*.csv.gz; do
        cat <<SQL
begin;
create temp table chg ($ct_cols) on commit drop;
\\copy chg from program 'gzip -dc $f' with (format csv, header true)
insert into ${t}__ct select * from chg;
create temp table last on commit drop as
  select distinct on (id) * from chg where header__change_oper in ('I', 'U', 'D') order by id, header__change_seq desc;
delete from ${t}__current c using last l where c.id = l.id and l.header__change_oper = 'D';
insert into ${t}__current select id, name, amount, city, updated_at, header__change_seq from last where header__change_oper <> 'D'
  on conflict (id) do update set name = excluded.name, amount = excluded.amount, city = excluded.city,
    updated_at = excluded.updated_at, change_seq = excluded.change_seq;
commit;
SQL
      done
    done
  } >"$work/changes.sql"

  # Snapshots first (both), then the change files (both): each phase timed on its own.
  local t0 t1 t2 t3 t4 t5
  t0=$(now); psql_ -d psql_baseline -f "$work/snapshot.sql"; t1=$(now)
  mkdir -p "$project/incoming/cubic/ods_qlik"; cp -r "$data"/T?? "$project/incoming/cubic/ods_qlik/"   # T?? is the base tables only
  t2=$(now); intake run --once --json >"$work/run1.json" 2>"$work/run1.log" || { tail -20 "$work/run1.log" >&2; exit 1; }; t3=$(now)
  t4=$(now); psql_ -d psql_baseline -f "$work/changes.sql"; t5=$(now)
  cp -r "$data"/T??__ct "$project/incoming/cubic/ods_qlik/"
  local t6 t7
  t6=$(now); intake run --once --json >"$work/run2.json" 2>"$work/run2.log" || { tail -20 "$work/run2.log" >&2; exit 1; }; t7=$(now)

  # Both must be right: the same rows, and as many as the generator left live.
  local bad=0 n expected
  while read -r table expected; do
    local p=${table#cubic__ods_qlik__}
    n=$(psql_ -d intake -c "select count(*) from ${table}__current")
    local pn; pn=$(psql_ -d psql_baseline -c "select count(*) from ${p}__current")
    # the psql baseline is in another database: compare through a digest of the rows in key order
    local a b
    a=$(psql_ -d intake -c "select md5(string_agg(concat_ws('|', id, name, amount, city, updated_at), ',' order by id::bigint)) from ${table}__current")
    b=$(psql_ -d psql_baseline -c "select md5(string_agg(concat_ws('|', id, name, amount, city, updated_at), ',' order by id::bigint)) from ${p}__current")
    if [ "$n" != "$expected" ] || [ "$pn" != "$expected" ] || [ "$a" != "$b" ]; then
      echo "DIFFERENT $table: intake $n rows ($a), psql $pn rows ($b), generator $expected live ids" >&2; bad=1
    fi
  done <"$work/data/expected.txt"
  [ "$bad" = 0 ] || { echo "bench: the current-state tables differ (see above)" >&2; exit 1; }
  local errored; errored=$(python3 -c "import json,sys; print(sum(json.load(open(f)).get('errored', 0) for f in sys.argv[1:]))" "$work/run1.json" "$work/run2.json")
  [ "$errored" = 0 ] || { echo "bench: $errored loads errored (see $work/run*.log)" >&2; exit 1; }

  local snap_rows=$((TABLES * KEYS)) change_rows=$((FILES * ROWS))
  python3 - "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" "$t6" "$t7" "$TABLES" "$snap_rows" "$FILES" "$change_rows" <<'PY'
import sys
t = list(map(float, sys.argv[1:9])); tables, snap, files, rows = map(int, sys.argv[9:13])
ps, its, pc, itc = t[1] - t[0], t[3] - t[2], t[5] - t[4], t[7] - t[6]
print(f"ODS: {tables} tables, snapshots of {snap:,} rows, then {files:,} change files of {rows:,} rows in all; current tables equal (psql = intake = generator)")
print(f"  snapshots     psql  {ps:7.2f} s  {snap / ps:10,.0f} rows/s")
print(f"                intake{its:7.2f} s  {snap / its:10,.0f} rows/s   ratio {ps / its:.2f}x psql   (intake run --once: LOAD files loaded, current tables built)")
print(f"  change files  psql  {pc:7.2f} s  {rows / pc:10,.0f} rows/s  {files / pc:7,.1f} files/s")
print(f"                intake{itc:7.2f} s  {rows / itc:10,.0f} rows/s  {files / itc:7,.1f} files/s   ratio {pc / itc:.2f}x psql   (fetch, load into __ct, apply into __current)")
PY
}

streams() {
  local port=$((20000 + RANDOM % 20000)) key admin
  key=$(intake keys create --customer cubic --scope write 2>/dev/null)
  admin=$(intake keys create --scope admin 2>/dev/null)
  (cd "$project" && exec "$repo/intake" serve --urls "http://127.0.0.1:$port" --rate-limit off --workers 1) >"$work/serve.log" 2>&1 &
  serve_pid=$!
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
  curl -sf -X POST -H "X-Api-Key: $admin" "http://127.0.0.1:$port/api/v1/pipelines/stream/pause" >/dev/null   # accept only; load nothing
  local url="http://127.0.0.1:$port/api/v1/streams/sample/records"
  local spool=$project/.intake/streams/sample
  # How many fsyncs a second the spool's disk does alone (4 KiB appends, one fsync each, for 2 s).
  local fsyncs; fsyncs=$(python3 - "$spool" <<'PY'
import os, sys, time
path = os.path.join(sys.argv[1], "..", "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644); block = b"x" * 4096; n = 0; end = time.time() + 2
while time.time() < end:
    os.write(fd, block); os.fsync(fd); n += 1
os.close(fd); os.unlink(path); print(n // 2)
PY
)
  cpu() { awk '{print $14 + $15}' "/proc/$serve_pid/stat"; }   # server CPU time in clock ticks (user + system)
  local hz; hz=$(getconf CLK_TCK)
  records() { awk -v n="$1" -v off="$2" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":%d,\"card_id\":\"C%d\",\"station\":\"place-sstat\",\"amount\":2.40,\"tapped_at\":\"2022-03-04T13:00:00Z\"}\n", off + i, i % 1000 }'; }
  # curl -Z: one process, CONCURRENCY connections, every URL of the config file posts the same body.
  post_all() {   # body file, requests, concurrency -> prints "ok other seconds"
    local body=$1 requests=$2 concurrency=$3 t0 t1
    awk -v n="$requests" -v u="$url" 'BEGIN { for (i = 0; i < n; i++) print "url = \"" u "\"\noutput = \"/dev/null\"" }' >"$work/urls"
    t0=$(now)
    curl -sS --no-progress-meter -Z --parallel-max "$concurrency" -X POST -H "X-Api-Key: $key" -H "Content-Type: application/x-ndjson" \
      --data-binary "@$body" -w '%{http_code}\n' -K "$work/urls" >"$work/codes" 2>>"$work/curl.log" || true
    t1=$(now)
    echo "$(grep -c '^200$' "$work/codes" || true) $(grep -vc '^200$' "$work/codes" || true) $(secs "$t0" "$t1")"
  }
  local acked=0 run batch concurrency requests ok
  echo "Streams: $RECORDS records per run, NDJSON, rate limit off, pipeline paused (accepting only); spool on $(df --output=source,fstype "$project" | tail -1 | tr -s ' '), $fsyncs fsyncs/s on it alone"
  # Warm-up (the server's JIT, the connections): 20 requests, counted with the rest below.
  records 1000 0 >"$work/body.ndjson"
  read -r ok _ _ < <(post_all "$work/body.ndjson" 20 4); acked=$((ok * 1000))
  for run in $STREAM_RUNS; do
    batch=${run%%:*} concurrency=${run##*:} requests=$((RECORDS / batch))
    records "$batch" 0 >"$work/body.ndjson"
    { records "$((batch - 1))" 0; echo '{"id":1,}'; } >"$work/bad.ndjson"   # the last record is bad: 400 after checking all
    local c0 c1 other s
    c0=$(cpu); read -r ok other s < <(post_all "$work/body.ndjson" "$requests" "$concurrency"); c1=$(cpu)
    acked=$((acked + ok * batch))
    local bok bother bs
    read -r bok bother bs < <(post_all "$work/bad.ndjson" "$requests" "$concurrency")
    python3 - "$batch" "$concurrency" "$ok" "$other" "$s" "$bother" "$bs" "$((c1 - c0))" "$hz" <<'PY'
import sys
batch, conc, ok, other = map(int, sys.argv[1:5]); s = float(sys.argv[5]); bad400, bs = int(sys.argv[6]), float(sys.argv[7])
ticks, hz = int(sys.argv[8]), int(sys.argv[9]); cpu = ticks / hz
print(f"  {batch:>5} records/request x {conc:>2} connections: {ok * batch / s:>10,.0f} records/s acknowledged ({ok / s:6,.1f} requests/s, {other} not 200)"
      f"  | check only (400): {bad400 * batch / bs:>10,.0f} records/s  | server CPU {cpu:5.1f} s = {cpu / s * 100:4.0f}% of a core, {cpu / max(ok * batch, 1) * 1e6:5.2f} us/record")
PY
  done
  # As many records in the batch files as were acknowledged (none of the refused ones): seal what is open, wait for the batches to be written, count lines.
  curl -sf -X POST -H "X-Api-Key: $key" "http://127.0.0.1:$port/api/v1/streams/sample/flush" >/dev/null
  for _ in $(seq 120); do
    curl -sf -H "X-Api-Key: $key" "http://127.0.0.1:$port/api/v1/streams/sample" \
      | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["pending_records"] == 0 and d["sealed_batches"] == 0 else 1)' && break
    sleep 0.5
  done
  local on_disk ids
  on_disk=$(cat "$project"/stream/sample/*.json 2>/dev/null | wc -l)
  [ "$on_disk" = "$acked" ] || { echo "bench: $acked records acknowledged, $on_disk in the batch files" >&2; exit 1; }
  echo "  the batch files hold exactly the acknowledged records: $acked records, $(ls "$project"/stream/sample/*.json | wc -l) batch files"
  kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=""
}

[ "$PART" = streams ] || ods
[ "$PART" = ods ] || streams
