#!/usr/bin/env bash
# Scale-out: loads/s for 1, 2 and 4 `intake worker` processes on the same data, against the bare tool on the same
# files in the same run.
#
# Each Intake run is bench/chaos/run.sh without chaos (KILL_EVERY=0 RESTARTS=0 DURATION=0): FILES small CSV files
# (half for an append table, half merged into a target through a staging table) are in the source folder from the
# start; one `intake serve` discovers them (and works with one worker of its own) and WORKERS `intake worker`
# processes with THREADS workers each take them through fetch, validate, archive, load (and merge), on a PostgreSQL
# catalog and warehouse and an S3 store (s3rver). The chaos script's checks run after each (every file exactly one
# load, rows, no duplicates, merge target exact, audit, empty work area): any difference fails this script.
# The bare tool: one psql session that \copies every file into its table and, for the merge files, \copies into a
# staging table and upserts into the target (newest version wins), one transaction per file; its rows are checked
# against the files too.
#
#   bench/scale-out/run.sh                       FILES=2000 PROCESSES="1 2 4" THREADS=2
#   FILES=200 PROCESSES="1 2" bench/scale-out/run.sh   a quick check that it works
#   SMALL_WORKERS=0 bench/scale-out/run.sh      no small-load workers (by default each process also runs 3 per processor,
#                                                not counted in the table's workers column; 2026-12-04, 4 processes: 30.3 loads/s with, 30.7 without)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
FILES=${FILES:-2000} PROCESSES=${PROCESSES:-"1 2 4"} THREADS=${THREADS:-2} MAX_ROWS=${MAX_ROWS:-50} KEYS=${KEYS:-500}
work=$(mktemp -d /tmp/intake-bench-scaleout-XXXX); chmod 755 "$work"
export INTAKE_SERVERS_DIR=$work/servers INTAKE_PG_PORT=${INTAKE_PG_PORT:-55449}
unset INTAKE_TEST_PG
trap '"$repo/scripts/servers/postgres.sh" stop; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
mkdir -p "$INTAKE_SERVERS_DIR"
read -ra cli <<<"${INTAKE_CLI:-$repo/intake}"   # INTAKE_CLI='dotnet …/intake.dll': another build (bench/chaos reads it too)
"${cli[@]}" --help >/dev/null   # build outside the measurement

# The same files as the Intake runs: gen.py is seeded, so the same arguments give the same files.
python3 "$repo/bench/chaos/gen.py" "$work/data" "$FILES" "$MAX_ROWS" "$KEYS"
rows=$(awk -F'\t' '{s += $3} END {print s}' "$work/data/manifest.tsv")

# The bare tool first, on a server of its own (stopped before the Intake runs start theirs).
eval "$("$repo/scripts/servers/postgres.sh" start | grep '^export ')"
psql_() { psql -qAtX -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$INTAKE_PG_PORT" -U postgres -d intake "$@"; }
psql_ -c "create table events (file text not null, line integer not null, value bigint)" \
      -c "create table accounts_staging (id bigint not null, balance numeric, version bigint not null)" \
      -c "create table accounts (id bigint primary key, balance numeric, version bigint not null)"
{
  echo "\\set ON_ERROR_STOP 1"
  while IFS=$'\t' read -r pipeline name _; do
    f=$work/data/pending/$pipeline/$name
    if [ "$pipeline" = events ]; then
      echo "\\copy events from '$f' with (format csv, header true)"
    else
      echo "begin;"
      echo "\\copy accounts_staging from '$f' with (format csv, header true)"
      echo "insert into accounts select * from accounts_staging where version = ${name:2:6} on conflict (id) do update set balance = excluded.balance, version = excluded.version where accounts.version <= excluded.version;"
      echo "commit;"
    fi
  done <"$work/data/manifest.tsv"
} >"$work/baseline.sql"
t0=$(date +%s.%N); psql_ -f "$work/baseline.sql"; t1=$(date +%s.%N)
got=$(psql_ -c "select (select count(*) from events) + (select count(*) from accounts_staging)")
[ "$got" = "$rows" ] || { echo "scale-out: psql loaded $got rows, the files hold $rows" >&2; exit 1; }
accounts=$(psql_ -c "select count(*) from accounts")
[ "$accounts" = "$(wc -l <"$work/data/accounts.expected.tsv")" ] || { echo "scale-out: psql's accounts differ from the model" >&2; exit 1; }
"$repo/scripts/servers/postgres.sh" stop
base=$(python3 -c "print(f'{$FILES / ($t1 - $t0):.1f}')")

results=()
for p in $PROCESSES; do
  echo "== $p worker process(es), $THREADS workers each, plus intake serve (discovery, 1 worker)" >&2
  out=$(KILL_EVERY=0 RESTARTS=0 DURATION=0 PRELOAD="$FILES" WORKERS="$p" THREADS="$THREADS" MAX_ROWS="$MAX_ROWS" KEYS="$KEYS" \
        INTAKE_SERVERS_DIR="$work/servers-$p" "$repo/bench/chaos/run.sh" 2>&1) || { echo "$out" | grep -v '^{' >&2; echo "scale-out: the run with $p process(es) failed its checks" >&2; exit 1; }
  echo "$out" | grep -E '^(OK|FAIL) ' >&2
  rate=$(echo "$out" | sed -n 's/.*: \([0-9.]*\) loads\/s$/\1/p')
  results+=("$p $rate")
done

echo
echo "$FILES files ($rows rows; half appended, half merged), PostgreSQL catalog and warehouse, S3 store (s3rver), $(nproc) cores"
printf '| worker processes | workers | Intake loads/s (end to end, from the first start) | psql files/s (one session, same files) |\n|---|---|---|---|\n'
for r in "${results[@]}"; do
  read -r p rate <<<"$r"
  printf '| %s (+ serve) | %s | %s | %s |\n' "$p" "$((p * THREADS + 1))" "$rate" "$base"
done
