#!/usr/bin/env bash
# Many workers under chaos, then an exact check of what they did.
#
# CATALOG=postgres (default): WORKERS `intake worker` processes plus one `intake serve` (discovery every second,
# and a worker of its own) on a PostgreSQL catalog and warehouse and an S3 store (s3rver), all from
# scripts/servers on ports of this script's own. CATALOG=sqlite: the embedded default, WORKERS `intake run`
# processes (each discovers and works) on one SQLite catalog, a SQLite warehouse and a local store.
# For DURATION seconds it drops RATE files a second into a local source folder (odd ones for an append table,
# `events`; even ones for a merge target, `accounts`, through a staging table), and every KILL_EVERY seconds
# SIGKILLs a random Intake process and starts it again. PostgreSQL is restarted at a third of the run and s3rver at
# two thirds (CATALOG=postgres). Then it lets the processes finish (at most SETTLE seconds), stops them and checks:
#   every file is exactly one load, and there is no other load;
#   every load is archived, and its original is in the archive area;
#   each load's rows in the warehouse equal its file's; no (file, line) of events and no (id, version) of the staging
#   table is there twice; the merge target equals what a model of the merges computes (newest version of each id);
#   `intake audit --all` is clean; the work area is empty.
# It prints those counts, the kills and restarts, and loads/s, and exits 1 on any difference.
#
#   bench/chaos/run.sh                                 DURATION=300 WORKERS=4 KILL_EVERY=5 RATE=4 CATALOG=postgres
#   DURATION=30 WORKERS=3 KILL_EVERY=3 bench/chaos/run.sh       the short version (the test suite runs it)
#   CATALOG=sqlite bench/chaos/run.sh                   several `intake run` processes on one machine
#   KILL_EVERY=0 RESTARTS=0 DURATION=0 PRELOAD=2000 bench/chaos/run.sh   no chaos: PRELOAD files there from the start,
#                                                       processed as fast as WORKERS processes can (bench/scale-out)
# Other settings: THREADS (workers per process, 2), SMALL_WORKERS (--small-workers per process; unset: 3 per processor), MAX_ROWS (rows per file at most, 50), KEYS (accounts ids, 500),
# SETTLE (600), KEEP=1 (keep the folder and the servers' data). INTAKE_CLI='dotnet …/intake.dll' runs another build
# of the CLI than ./intake (the tests do). Ports: INTAKE_PG_PORT, INTAKE_S3_PORT, INTAKE_S3_TLS_PORT, CHAOS_SERVE_PORT.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=${INTAKE_REPO:-$(cd "$here/../.." && pwd)}
DURATION=${DURATION:-300} WORKERS=${WORKERS:-4} KILL_EVERY=${KILL_EVERY:-5} RATE=${RATE:-4} CATALOG=${CATALOG:-postgres}
RESTARTS=${RESTARTS:-1} PRELOAD=${PRELOAD:-0} THREADS=${THREADS:-2} MAX_ROWS=${MAX_ROWS:-50} KEYS=${KEYS:-500} SETTLE=${SETTLE:-600}
case "$CATALOG" in postgres|sqlite) ;; *) echo "chaos: CATALOG must be postgres or sqlite, not '$CATALOG'" >&2; exit 2 ;; esac
work=$(mktemp -d /tmp/intake-chaos-XXXX); chmod 755 "$work"   # the postgres user must reach its data folder
export INTAKE_SERVERS_DIR=${INTAKE_SERVERS_DIR:-$work/servers}   # the tests choose it, to stop the servers if they must kill the script
export INTAKE_PG_PORT=${INTAKE_PG_PORT:-55448} INTAKE_S3_PORT=${INTAKE_S3_PORT:-4593} INTAKE_S3_TLS_PORT=${INTAKE_S3_TLS_PORT:-4594}
serve_port=${CHAOS_SERVE_PORT:-18297}
mkdir -p "$INTAKE_SERVERS_DIR"
read -ra cli <<<"${INTAKE_CLI:-$repo/intake}"
project=$work/project
log=$work/intake.log; : >"$log"
servers=()
[ "$CATALOG" = postgres ] && servers=(postgres s3rver)

declare -a pids=() roles=()   # one slot per Intake process: its PID and what it runs
stop_all() {
  local i
  for i in "${!pids[@]}"; do [ -z "${pids[$i]}" ] || kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for i in "${!pids[@]}"; do [ -z "${pids[$i]}" ] || wait "${pids[$i]}" 2>/dev/null || true; pids[$i]=""; done
}
cleanup() {
  local status=$?
  stop_all
  [ "$status" = 0 ] || { echo "chaos: stopped with exit $status; the last lines of the Intake log:" >&2; tail -30 "$log" >&2; }
  for s in "${servers[@]}"; do "$repo/scripts/servers/$s.sh" stop >/dev/null 2>&1 || true; done
  if [ -n "${KEEP:-}" ]; then echo "chaos: kept $work" >&2; else rm -rf "$work" 2>/dev/null || true; fi
}
trap cleanup EXIT

# Only the servers started here: never settings inherited from the environment (a developer's test servers).
unset INTAKE_TEST_PG INTAKE_TEST_S3 INTAKE_TEST_S3_TLS
for s in "${servers[@]}"; do
  if [ "$(id -u)" = 0 ]; then "$repo/scripts/servers/$s.sh" install >&2; fi
  env_lines=$("$repo/scripts/servers/$s.sh" start) || { echo "chaos: $s did not start (see above)" >&2; exit 1; }
  eval "$(grep "^export " <<<"$env_lines")"
done
field() { tr ';' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
pg() { psql -qAtX -v ON_ERROR_STOP=1 -F $'\t' -h 127.0.0.1 -p "$INTAKE_PG_PORT" -U postgres "$@"; }
# SQLite through Python's own module: no sqlite3 command needed
lite() { python3 -c 'import sqlite3, sys
for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]): print("\t".join("" if v is None else str(v) for v in r))' "$@"; }

# The data: every file made up front, dropped later (PRELOAD of them before the processes start).
total=$(( DURATION * RATE + PRELOAD ))
[ "$total" -gt 0 ] || { echo "chaos: no files (DURATION * RATE + PRELOAD is 0)" >&2; exit 2; }
python3 "$here/gen.py" "$work/data" "$total" "$MAX_ROWS" "$KEYS"
mkdir -p "$project/pipelines" "$project/sql" "$project/incoming/events" "$project/incoming/accounts" "$work/drop"

# A lease of 15 s: a killed worker on another machine gives its loads back that fast (on this machine a restarted
# process or the sweeper reclaims them at once). Chaos needs more attempts than production: one load may be
# claimed by several processes that are killed before they finish.
defaults="defaults: { customer: chaos, lease: 15s, max_load_attempts: 50, retry: { max_attempts: 12, base_delay: 200ms, max_delay: 3s } }"
if [ "$CATALOG" = postgres ]; then
  pg -d postgres -c "create database catalog"
  s3_url=$(field "$INTAKE_TEST_S3" url)
  curl -sf -X PUT "$s3_url/chaos-store" >/dev/null   # s3rver takes unsigned bucket creation
  cat >"$project/intake.yaml" <<YAML
catalog: { kind: postgres, connection: "Host=127.0.0.1;Port=$INTAKE_PG_PORT;Username=postgres;Database=catalog" }
stores:
  s3: { kind: s3, url: "$s3_url", bucket: chaos-store, access_key: S3RVER, secret_key: S3RVER, region: us-east-1 }
warehouses: { main: { kind: postgres, connection: "Host=127.0.0.1;Port=$INTAKE_PG_PORT;Username=postgres;Database=intake" } }
$defaults
YAML
  sed -i 's/^defaults: { /defaults: { store: s3, warehouse: main, /' "$project/intake.yaml"
else
  cat >"$project/intake.yaml" <<YAML
catalog: { kind: sqlite, path: .intake/catalog.db }
stores: { local: { kind: local, root: .intake/store } }
warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }
$defaults
YAML
  sed -i 's/^defaults: { /defaults: { store: local, warehouse: main, /' "$project/intake.yaml"
fi
cat >"$project/pipelines/events.yaml" <<YAML
name: events
source: { kind: local, path: ../incoming/events, include: ["*.csv"], stable_for: 0s }
steps: [fetch, validate, archive, load]
load: { table: events, columns: { file: text not null, line: integer not null, value: bigint } }
YAML
cat >"$project/sql/accounts.sql" <<SQL
create table if not exists accounts (id bigint primary key, balance numeric, version bigint not null)
SQL
cat >"$project/pipelines/accounts.yaml" <<YAML
name: accounts
source: { kind: local, path: ../incoming/accounts, include: ["*.csv"], stable_for: 0s }
steps: [fetch, validate, archive, load, merge]
load: { table: accounts_staging, columns: { id: bigint not null, balance: decimal, version: bigint not null } }
merge: { target: accounts, key: [id], setup: ../sql/accounts.sql, version_column: version }
YAML
intake() { "${cli[@]}" --config "$project" "$@"; }
intake validate >/dev/null

# Files appear whole: written elsewhere on the same file system, then renamed into the source folder.
dropped=0
drop() { # how many
  local n=$1 line pipeline name
  while [ "$n" -gt 0 ] && [ "$dropped" -lt "$total" ]; do
    dropped=$((dropped + 1))
    line=$(sed -n "${dropped}p" "$work/data/manifest.tsv")
    pipeline=${line%%$'\t'*}; name=$(cut -f2 <<<"$line")
    cp "$work/data/pending/$pipeline/$name" "$work/drop/$name"
    mv "$work/drop/$name" "$project/incoming/$pipeline/$name"
    n=$((n - 1))
  done
}

# Each process is started as a direct child (no function or subshell between), so its PID is the one to kill.
start_slot() { # slot
  local i=$1
  case "${roles[$i]}" in
    serve) "${cli[@]}" --config "$project" serve --urls "http://127.0.0.1:$serve_port" --workers 1 ${SMALL_WORKERS:+--small-workers $SMALL_WORKERS} --discover-every 1s --sweep-every 1s >>"$log" 2>&1 & ;;
    worker) "${cli[@]}" --config "$project" worker --workers "$THREADS" ${SMALL_WORKERS:+--small-workers $SMALL_WORKERS} --poll 500ms --sweep-every 1s >>"$log" 2>&1 & ;;
    run) "${cli[@]}" --config "$project" run --workers "$THREADS" ${SMALL_WORKERS:+--small-workers $SMALL_WORKERS} --interval 1s >>"$log" 2>&1 & ;;
  esac
  pids[$i]=$!
}

now() { date +%s.%N; }
drop "$PRELOAD"
if [ "$CATALOG" = postgres ]; then
  roles+=(serve); for _ in $(seq "$WORKERS"); do roles+=(worker); done
else
  for _ in $(seq "$WORKERS"); do roles+=(run); done
fi
t0=$(now)
for i in "${!roles[@]}"; do start_slot "$i"; done

# Alive and not a zombie (an exited child stays in the process table until it is waited for).
alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat")" != Z ]; }
kills=0 pg_restarts=0 s3_restarts=0 exits=0 elapsed=0
while [ "$elapsed" -lt "$DURATION" ]; do
  sleep 1; elapsed=$((elapsed + 1))
  drop "$RATE"
  if [ "$KILL_EVERY" -gt 0 ] && [ $((elapsed % KILL_EVERY)) = 0 ]; then
    i=$((RANDOM % ${#roles[@]}))
    kill -KILL "${pids[$i]}" 2>/dev/null || true; wait "${pids[$i]}" 2>/dev/null || true
    kills=$((kills + 1))
    start_slot "$i"
  fi
  if [ "$CATALOG" = postgres ] && [ "$RESTARTS" != 0 ]; then
    if [ "$elapsed" = $((DURATION / 3)) ]; then "$repo/scripts/servers/postgres.sh" restart; pg_restarts=$((pg_restarts + 1)); fi
    if [ "$elapsed" = $((2 * DURATION / 3)) ]; then "$repo/scripts/servers/s3rver.sh" restart; s3_restarts=$((s3_restarts + 1)); fi
  fi
  # a process that exited by itself (it must not: outages are waited out) is started again, and counted
  for i in "${!pids[@]}"; do
    if ! alive "${pids[$i]}"; then
      status=0; wait "${pids[$i]}" || status=$?
      echo "chaos: ${roles[$i]} (slot $i) exited by itself with status $status; started again" >&2
      exits=$((exits + 1)); start_slot "$i"
    fi
  done
done
drop "$total"   # the rest, if the loop was short

# Settle: every file a load, and every load done (archived or errored).
catalog_q() {
  if [ "$CATALOG" = postgres ]; then pg -d catalog -c "$1"; else lite "$project/.intake/catalog.db" "$1"; fi
}
warehouse_q() {
  if [ "$CATALOG" = postgres ]; then pg -d intake -c "$1"; else lite "$project/.intake/warehouse.db" "$1"; fi
}
deadline=$(( $(date +%s) + SETTLE ))
while :; do
  read -r loads busy < <(catalog_q "select count(*), count(*) filter (where status not in ('archived', 'errored')) from intake_loads" 2>/dev/null | tr '\t' ' ' || echo "0 0")
  [ "${loads:-0}" -ge "$total" ] && [ "${busy:-1}" = 0 ] && break
  [ "$(date +%s)" -lt "$deadline" ] || { echo "chaos: not settled after ${SETTLE}s: $loads loads of $total files, $busy not finished" >&2; break; }
  sleep 0.5
done
t1=$(now)
stop_all

# The checks. Everything is read into files and compared in one place.
catalog_q "select id, pipeline, source_key, status, attempts, coalesce(error_message, '') from intake_loads order by id" >"$work/loads.tsv"
warehouse_q "select _intake_load_id, count(*) from events group by 1" >"$work/events.count.tsv"
warehouse_q "select count(*) from (select file, line from events group by file, line having count(*) > 1) d" >"$work/events.dup.tsv"
warehouse_q "select count(*) from (select file from events group by file having count(distinct _intake_load_id) > 1) d" >"$work/events.files.tsv"
warehouse_q "select _intake_load_id, count(*) from accounts_staging group by 1" >"$work/staging.count.tsv"
warehouse_q "select count(*) from (select id, version from accounts_staging group by id, version having count(*) > 1) d" >"$work/staging.dup.tsv"
warehouse_q "select id, balance, version from accounts order by id" >"$work/accounts.tsv"
audit=0; intake audit --all >"$work/audit.txt" 2>&1 || audit=$?
if [ "$CATALOG" = postgres ]; then
  # s3rver answers unsigned listings; a page holds up to 1000 keys, the continuation token leads to the next
  list() { local token="" page; while :; do
      page=$(curl -sf "$s3_url/chaos-store?list-type=2&prefix=$1&max-keys=1000${token:+&continuation-token=$token}") || { echo "chaos: cannot list $1 in the store" >&2; return 1; }
      grep -o '<Key>[^<]*</Key>' <<<"$page" | sed 's/<[^>]*>//g' || true
      token=$( (grep -o '<NextContinuationToken>[^<]*</NextContinuationToken>' <<<"$page" | sed 's/<[^>]*>//g' || true) | python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.stdin.read().strip(), safe=""))' || true)
      [ -n "$token" ] || break; done; }
  list work/ >"$work/work.keys"
  list archive/ >"$work/archive.keys"
else
  (cd "$project/.intake/store" && find work -type f 2>/dev/null) >"$work/work.keys" || true
  (cd "$project/.intake/store" && find archive -type f 2>/dev/null) >"$work/archive.keys" || true
fi

python3 - "$work" "$total" "$audit" "$t0" "$t1" "$kills" "$pg_restarts" "$s3_restarts" "${#roles[@]}" "$CATALOG" "$exits" <<'PY'
import collections, decimal, sys
work, total, audit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0, t1 = float(sys.argv[4]), float(sys.argv[5])
kills, pg_restarts, s3_restarts, processes, catalog = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9]), sys.argv[10]
exits = int(sys.argv[11])
def rows(name):
    with open(f"{work}/{name}") as f:
        return [l.rstrip("\n").split("\t") for l in f if l.strip()]
manifest = {(p, n): int(r) for p, n, r in rows("data/manifest.tsv")}
loads = rows("loads.tsv")
problems = []
def check(ok, what):
    print(("OK    " if ok else "FAIL  ") + what)
    if not ok:
        problems.append(what)

per_file = collections.Counter((l[1], l[2]) for l in loads)
missing = [k for k in manifest if per_file[k] == 0]
twice = [k for k, c in per_file.items() if c > 1]
extra = [k for k in per_file if k not in manifest]
check(not missing and not twice and not extra and len(loads) == total,
      f"every file is exactly one load: {total} files, {len(loads)} loads, {len(missing)} files without a load, {len(twice)} files with more than one, {len(extra)} loads of no file")
status = collections.Counter(l[3] for l in loads)
check(status["archived"] == len(loads), "every load is archived: " + ", ".join(f"{s} {c}" for s, c in sorted(status.items())))
for l in loads:
    if l[3] != "archived":
        print(f"      load {l[0]} ({l[1]} {l[2]}): {l[3]} {l[5]}")
archive = open(f"{work}/archive.keys").read().split()
names = collections.Counter(k.rsplit("/", 1)[-1] for k in archive if not k.endswith(".sha256"))
no_archive = [l for l in loads if names[l[2]] == 0]
check(not no_archive, f"every load's original is in the archive area: {len(archive)} objects there, {len(no_archive)} loads without one")

by_id = {l[0]: (l[1], l[2]) for l in loads}
def counts(name):
    return {r[0]: int(r[1]) for r in rows(name)}
wrong = []
warehouse_rows = 0
for table, pipeline in (("events.count.tsv", "events"), ("staging.count.tsv", "accounts")):
    got = counts(table)
    warehouse_rows += sum(got.values())
    for load_id, (p, name) in by_id.items():
        if p == pipeline and got.get(load_id, 0) != manifest.get((p, name), -1):
            wrong.append(f"load {load_id} ({name}): {got.get(load_id, 0)} rows, the file has {manifest.get((p, name))}")
    wrong += [f"rows of load {k} that the catalog does not know" for k in got if k not in by_id]
check(not wrong, f"each load's rows equal its file's: {warehouse_rows} rows in events and accounts_staging, {sum(manifest.values())} in the files" + "".join("\n      " + w for w in wrong[:10]))
dups = int(rows("events.dup.tsv")[0][0]) + int(rows("events.files.tsv")[0][0]) + int(rows("staging.dup.tsv")[0][0])
check(dups == 0, f"no row is there twice: {dups} duplicated (file, line) of events, files in two loads, or (id, version) of accounts_staging")

expected = {int(i): (decimal.Decimal(b), int(v)) for i, b, v in rows("data/accounts.expected.tsv")}
actual = {int(i): (decimal.Decimal(b), int(v)) for i, b, v in rows("accounts.tsv")}
diff = [i for i in set(expected) | set(actual) if expected.get(i) != actual.get(i)]
check(not diff, f"the merge target equals the model: {len(actual)} accounts, {len(expected)} expected, {len(diff)} differ"
      + "".join(f"\n      id {i}: {actual.get(i)} instead of {expected.get(i)}" for i in sorted(diff)[:10]))
check(audit == 0, f"intake audit --all is clean (exit {audit})")
check(exits == 0, f"no Intake process exited by itself: {exits} did (see the log)")
work_keys = open(f"{work}/work.keys").read().split()
check(not work_keys, f"the work area is empty: {len(work_keys)} objects")

seconds = t1 - t0
retaken = sum(1 for l in loads if int(l[4]) > 1)
print(f"{retaken} loads were claimed more than once (their worker was killed, or the catalog went away, mid-load)")
print(f"{catalog}: {processes} Intake processes, {kills} SIGKILLs, PostgreSQL restarted {pg_restarts}x, s3rver {s3_restarts}x; "
      f"{len(loads)} loads ({sum(manifest.values())} rows) in {seconds:.1f} s from the first start to the last load done: {len(loads) / seconds:.1f} loads/s")
if problems:
    print(f"chaos: {len(problems)} check(s) failed")
    sys.exit(1)
print("chaos: all checks passed")
PY
