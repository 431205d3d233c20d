#!/usr/bin/env bash
# The Cubic ingestion example, end to end, with one command:
#   examples/cubic/run.sh
# Starts s3rver and PostgreSQL from scripts/servers (fresh, on ports of the example's own; installing them first
# when run as root and they are missing), then plays the incoming bucket of the Cubic design in three deliveries:
#   1. a change file of EDW.SAMPLE arrives before any snapshot of it: held, with the reason;
#   2. the snapshots of EDW.SAMPLE (two LOAD files) and EDW.CARD arrive with change files: the held file is
#      released by itself, and each table with a key gets a current-state table;
#   3. EDW.SAMPLE's collection restarts (a new LOAD00000001) and more change files come: the current-state table is
#      rebuilt from the new snapshot and the changes applied in header__change_seq order;
#   4. DMAP: two days of a daily dataset, then one day re-delivered: it replaces that day's rows only;
# then starts `intake serve`, posts stream records to it with curl, flushes the stream and loads the batch file.
# It prints the tables, the held-then-released loads and the current-state tables, checks each against what it must
# be (expected/*.csv, the records sent), prints an OK line per check and exits 1 when any check fails.
# Stops what it started at the end; KEEP=1 leaves the servers running (the next run starts them afresh).
#   INTAKE_CLI='dotnet …/intake.dll' runs another build of the CLI than ./intake (the tests do).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=${INTAKE_REPO:-$(cd "$here/../.." && pwd)}
export INTAKE_SERVERS_DIR=${INTAKE_SERVERS_DIR:-/tmp/intake-cubic-example}
# ports of the example's own, away from the defaults, the test suite's and the other examples'
export INTAKE_PG_PORT=${INTAKE_PG_PORT:-55445} INTAKE_S3_PORT=${INTAKE_S3_PORT:-4585} INTAKE_S3_TLS_PORT=${INTAKE_S3_TLS_PORT:-4586}
serve_port=${CUBIC_SERVE_PORT:-8097}
mkdir -p "$INTAKE_SERVERS_DIR"; chmod 755 "$INTAKE_SERVERS_DIR"
read -ra cli <<<"${INTAKE_CLI:-$repo/intake}"
intake() { "${cli[@]}" --config "$here" "$@"; }

servers=(postgres s3rver)
serve_pid=""
cleanup() {
  local status=$?
  [ "$status" = 0 ] || [ ! -s "${log:-}" ] || { echo "stopped with exit $status; the last lines of $log:" >&2; tail -20 "$log" >&2; }
  if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  if [ -z "${KEEP:-}" ]; then for s in "${servers[@]}"; do "$repo/scripts/servers/$s.sh" stop >/dev/null 2>&1 || true; done; fi
}
trap cleanup EXIT
# Only the servers started here: never settings inherited from the environment (a developer's test servers).
unset INTAKE_TEST_PG INTAKE_TEST_S3 INTAKE_TEST_S3_TLS
for s in "${servers[@]}"; do
  if [ "$(id -u)" = 0 ]; then "$repo/scripts/servers/$s.sh" install >&2; fi
  "$repo/scripts/servers/$s.sh" stop >/dev/null 2>&1 || true   # a fresh server each run: empty buckets, empty catalog
  env_lines=$("$repo/scripts/servers/$s.sh" start) || { echo "run.sh: $s did not start (see above)" >&2; exit 1; }
  eval "$(grep "^export " <<<"$env_lines")"
done
[ -n "${INTAKE_TEST_PG:-}" ] && [ -n "${INTAKE_TEST_S3:-}" ] || { echo "run.sh: the servers did not say where they listen" >&2; exit 1; }
field() { tr ';' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
export CUBIC_PG="$INTAKE_TEST_PG"
export CUBIC_S3_URL=$(field "$INTAKE_TEST_S3" url) CUBIC_S3_ACCESS_KEY=$(field "$INTAKE_TEST_S3" access_key) CUBIC_S3_SECRET_KEY=$(field "$INTAKE_TEST_S3" secret_key)
psql_() { psql -qAt -h 127.0.0.1 -p "$INTAKE_PG_PORT" -U postgres -d intake "$@"; }
table() { psql -h 127.0.0.1 -p "$INTAKE_PG_PORT" -U postgres -d intake -P footer=off -c "$1"; }
rm -rf "$here/.intake"   # the stream's spool
log=$INTAKE_SERVERS_DIR/intake.log; : >"$log"   # what the commands log (they log to stderr when it is not a terminal)

# The buckets: incoming (what Qlik, DMAP and the stream write) and the store's (s3rver takes unsigned bucket creation).
for b in incoming cubic-store; do curl -sf -X PUT "$CUBIC_S3_URL/$b" >/dev/null; done
# Puts every file of a delivery into the incoming bucket under its path; ODS files gzipped, as Qlik writes them.
deliver() {
  local dir="$here/data/$1" file key tmp
  tmp=$(mktemp)
  while IFS= read -r file; do
    key=${file#"$dir/"}
    case "$key" in cubic/ods_qlik/*) gzip -c "$file" >"$tmp"; key="$key.gz" ;; *) cp "$file" "$tmp" ;; esac
    curl -sSf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$CUBIC_S3_ACCESS_KEY:$CUBIC_S3_SECRET_KEY" \
      -H "x-amz-content-sha256: $(sha256sum "$tmp" | cut -d' ' -f1)" -T "$tmp" "$CUBIC_S3_URL/incoming/$key" >/dev/null
    echo "  put incoming/$key"
  done < <(find "$dir" -type f | sort)
  rm -f "$tmp"
}

failed=0
check() {   # what, expected, actual
  if [ "$2" = "$3" ]; then echo "OK    $1"; else echo "FAIL  $1: expected '$2', got '$3'"; failed=1; fi
}
# The current-state table as CSV (its base table's columns, in key order) against expected/<table>.csv.
check_current() {   # table, columns, key
  local got
  got=$(psql_ -c "copy (select $2 from $1 order by $3) to stdout with (format csv)")
  if [ "$got" = "$(cat "$here/expected/$1.csv")" ]; then
    echo "OK    $1 equals expected/$1.csv ($(wc -l <"$here/expected/$1.csv") rows)"
  else
    echo "FAIL  $1 differs from expected/$1.csv:"; diff <(echo "$got") "$here/expected/$1.csv" || true; failed=1
  fi
}
count() { intake loads --pipeline "$1" --status "$2" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

intake validate

echo; echo "== 1. a change file of EDW.SAMPLE arrives before any snapshot of it"
deliver 1-changes-before-snapshot
run_out=$(intake run --once 2>>"$log"); echo "$run_out"
check "intake run says the file was held" yes "$(grep -q '1 new file(s) discovered; 0 archived, 0 errored, 1 held' <<<"$run_out" && echo yes || echo no)"
echo; echo "held loads:"
intake loads --status held
early=$(intake loads --pipeline cubic --json | python3 -c 'import json,sys; print(next(l["id"] for l in json.load(sys.stdin) if l["source_key"].endswith("20220304-134600000.csv.gz")))')
check "intake show gives the held attempt and its reason" yes "$(intake show "$early" | grep -q ' held .* held: waiting' && echo yes || echo no)"
check "the early change file is held" held "$(intake show "$early" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["load"]["status"])')"

echo; echo "== 2. the snapshots arrive: EDW.SAMPLE in two LOAD files, EDW.CARD in one, with change files"
deliver 2-snapshot
intake run --once 2>>"$log"
echo; echo "the change file held in 1, released by itself once its snapshot was loaded:"
intake show "$early"
check "the early change file is archived" archived "$(intake show "$early" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["load"]["status"])')"
check "no load is held" 0 "$(count cubic held)"
echo; echo "tables (a table per folder under cubic/):"
intake tables --pipeline cubic
echo; table "select * from cubic__ods_qlik__edw_sample__current order by sample_id"

echo; echo "== 3. EDW.SAMPLE's collection restarts (a new LOAD00000001), and more change files of both tables"
deliver 3-resnapshot
intake run --once 2>>"$log"
echo; echo "ODS tables (intake cubic):"
intake cubic
check "every load of cubic is archived" "$(intake loads --pipeline cubic --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "$(count cubic archived)"
check "two snapshots of EDW.SAMPLE" 2 "$(psql_ -c "select count(distinct snapshot) from cubic__ods_qlik__edw_sample")"
echo; echo "rows of the base table per snapshot (the snapshot column):"
table "select snapshot, count(*) as rows from cubic__ods_qlik__edw_sample group by snapshot order by snapshot"
echo; echo "current-state tables:"
table "select sample_id, name, amount, _intake_change_seq from cubic__ods_qlik__edw_sample__current order by sample_id"
table "select card_id, rider, status, _intake_change_seq from cubic__ods_qlik__edw_card__current order by card_id"
check_current cubic__ods_qlik__edw_sample__current "sample_id, name, amount" sample_id
check_current cubic__ods_qlik__edw_card__current "card_id, rider, status" card_id

echo; echo "== 4. DMAP: two days of agg_sample, then Cubic re-delivers 2022-03-04 corrected (same key, new content)"
deliver 4-dmap
intake run --once 2>>"$log"
deliver 5-dmap-redelivery
intake run --once 2>>"$log"
echo; echo "rows per day (the re-delivered day holds only the new delivery's rows):"
table "select day, count(*) as rows, sum(riders::int) as riders from cubic__dmap__agg_sample group by day order by day"
check "DMAP days after the re-delivery" "2022-03-04 3 520|2022-03-05 3 476" \
  "$(psql_ -F ' ' -c "select day, count(*), sum(riders::int) from cubic__dmap__agg_sample group by day order by day" | paste -sd'|')"
check "the re-delivery replaced the first delivery's 2 rows" 2 "$(psql_ -c "select sum(rows_replaced) from _intake_replaced")"

echo; echo "== 5. a stream: records posted to intake serve, batched into a file in the incoming bucket, loaded"
key=$(intake keys create --customer cubic --scope write 2>/dev/null)
# Not through the intake function: $! must be the server's own process (./intake execs it), to stop it by its PID.
"${cli[@]}" --config "$here" serve --urls "http://127.0.0.1:$serve_port" --poll 1s --sweep-every 1s >>"$log" 2>&1 &
serve_pid=$!
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$serve_port/healthz" >/dev/null && break; sleep 0.2; done
# The small client: taps as NDJSON (two requests of 1,000) and as a JSON array (one of 500).
records() {
  awk -v from="$1" -v to="$2" 'BEGIN {
    for (i = from; i <= to; i++) {
      station = i % 2 ? "place-sstat" : "place-dwnxg"; minute = int(i / 60) % 60; second = i % 60
      printf "{\"id\":%d,\"card_id\":\"C%d\",\"station\":\"%s\",\"amount\":2.40,\"tapped_at\":\"2022-03-04T13:%02d:%02dZ\"}\n", i, i % 4 + 1, station, minute, second
    } }'
}
post() {   # content type, body file
  curl -sS -X POST "http://127.0.0.1:$serve_port/api/v1/streams/sample/records" -H "X-Api-Key: $key" -H "Content-Type: $1" --data-binary "@$2"
  echo
}
body=$(mktemp)
records 1 1000 >"$body"; post application/x-ndjson "$body"
records 1001 2000 >"$body"; post application/x-ndjson "$body"
records 2001 2500 | awk 'BEGIN { printf "[" } { sep = NR == 1 ? "" : ","; printf "%s%s", sep, $0 } END { print "]" }' >"$body"; post application/json "$body"
rm -f "$body"
intake streams
intake streams flush sample
for _ in $(seq 120); do
  [ "$(count cubic_kafka archived)" -ge 1 ] && [ "$(count cubic_kafka ready)" = 0 ] && [ "$(count cubic_kafka ingesting)" = 0 ] && break
  sleep 0.5
done
intake loads --pipeline cubic_kafka
check "the stream's records are in cubic__kafka__sample once each" "2500 2500 6000.00" \
  "$(psql_ -F ' ' -c "select count(*), count(distinct id), sum(amount) from cubic__kafka__sample")"
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=""

echo; echo "== the incoming bucket after the loads (remove_after: each loaded object moved to the archive area)"
left=$(curl -sf "$CUBIC_S3_URL/incoming?list-type=2" | { grep -o "<Key>[^<]*</Key>" || true; } | wc -l)
check "the incoming bucket is empty" 0 "$left"
if intake audit; then audit=0; else audit=$?; fi
check "intake audit: rows parsed = rows written = rows in the tables, for every load" 0 "$audit"

echo
if [ "$failed" = 0 ]; then echo "all checks passed"; else echo "some checks FAILED"; fi
exit "$failed"
