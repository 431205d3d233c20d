#!/usr/bin/env bash
# Benchmark: many small files (FILES files of 10 rows each, default 10000) through fetch, validate, archive, load,
# next to the bare tools on the same files in the same run.
#   bench/small-files/run.sh                     FILES=10000 CATALOG=sqlite WORKERS=2
#   CATALOG=postgres bench/small-files/run.sh    PostgreSQL catalog and warehouse (a throwaway server on its own port)
#   FILES=200 bench/small-files/run.sh           a quick check that the script works
#   SMALL_WORKERS=0 bench/small-files/run.sh     2 workers and no small-load workers (the default adds 3 per processor)
#   SMALL_BATCH=1 bench/small-files/run.sh       small-load workers take one load at a time (defaults.small_load_batch; default 4)
#   INTAKE="dotnet /path/intake.dll" ...         measure another build (the "before" of a change)
# CATALOG=sqlite is the embedded default: SQLite catalog, local store, SQLite warehouse. The bare tool is one
# `sqlite3` session doing one `.import` per file (each file its own transaction and commit, as Intake commits each
# load on its own) after one `cp` of the folder to an archive folder. CATALOG=postgres: one `psql` session doing one
# `\copy` per file (each its own transaction and commit), after the same `cp`. One client session rather than one
# process per file: Intake also runs as one process, so starting a client per file would charge the bare tool for
# process starts Intake does not pay; the bare tools do not fsync the copies, Intake does (its archive is durable).
# Intake runs `intake run --once --workers $WORKERS` (discovery, then that many loads of any size in flight in one
# process, plus its small-load workers: 3 per processor unless SMALL_WORKERS says).
# Checks: every file is exactly one load and archived, the table has FILES×10 rows, no duplicate id; exits non-zero
# on any difference. Prints files/s, CPU seconds (user+sys) of Intake and of the database server, and, from a second
# run of STRACE_FILES (default 200) files under `strace -f`, fsyncs, files created, renames and unlinks per load, and
# commits per load.
# Note: the throwaway PostgreSQL runs with fsync=off (scripts/servers/postgres.sh), for both tools alike.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
files=${FILES:-10000}
catalog=${CATALOG:-sqlite}
workers=${WORKERS:-2}
# SMALL_WORKERS: --small-workers for Intake (workers that take only small loads, beside WORKERS); unset: the default (3 per processor)
small_workers=${SMALL_WORKERS:+--small-workers $SMALL_WORKERS}
small_label=${SMALL_WORKERS:+ --small-workers $SMALL_WORKERS}; [ -n "${SMALL_WORKERS:-}" ] || small_label=" (+ the default small-load workers)"
small_label+=${SMALL_BATCH:+, small_load_batch $SMALL_BATCH}
strace_files=${STRACE_FILES:-200}
# INTAKE: the command to measure (default this checkout's launcher), e.g. INTAKE="dotnet /tmp/before/intake.dll" for a before/after pair.
read -r -a intake <<< "${INTAKE:-$repo/intake}"
case "$catalog" in sqlite|postgres) ;; *) echo "CATALOG must be sqlite or postgres" >&2; exit 2 ;; esac
work=$(mktemp -d /tmp/intake-small-XXXX); chmod 755 "$work"   # the postgres user must reach its data folder
pg_started=""
cleanup() {
  [ -n "$pg_started" ] && "$repo/scripts/servers/postgres.sh" stop
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

if [ "$catalog" = postgres ]; then
  export INTAKE_SERVERS_DIR=$work/servers INTAKE_PG_PORT=${INTAKE_PG_PORT:-55457}
  eval "$("$repo/scripts/servers/postgres.sh" start)"; pg_started=1
  conn=$INTAKE_TEST_PG
  psql_="psql -qAtX -h 127.0.0.1 -p $INTAKE_PG_PORT -U postgres -d intake"
  pg_pid=$(head -1 "$work/servers/pg/data/postmaster.pid")
fi

# CPU seconds of the PostgreSQL server: the postmaster, its reaped children (backends that ended) and the live ones.
pg_cpu() {
  python3 - "$pg_pid" <<'PY'
import os, sys
tck = os.sysconf("SC_CLK_TCK"); root = int(sys.argv[1]); total = 0
def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()
s = stat(root); total += sum(int(x) for x in s[11:15])   # utime stime cutime cstime
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != root:
        try:
            t = stat(pid)
        except OSError:
            continue
        if int(t[1]) == root:
            total += int(t[11]) + int(t[12])
print(total / tck)
PY
}

gen() {  # gen DIR N: N files of 10 rows, ids unique across all files
  mkdir -p "$1"
  python3 - "$1" "$2" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for f in range(n):
    with open(os.path.join(d, f"part-{f:06d}.csv"), "w") as out:
        out.write("id,name,amount\n")
        for r in range(10):
            i = f * 10 + r
            out.write(f"{i},name {i % 977},{(i * 37) % 100000 / 100:.2f}\n")
PY
}

project() {  # project DIR TABLE: an Intake project reading DIR/incoming
  mkdir -p "$1/pipelines"
  if [ "$catalog" = postgres ]; then
    cat > "$1/intake.yaml" <<YAML
catalog: { kind: postgres, connection: "${conn/Database=intake/Database=$2_catalog}" }
stores: { local: { kind: local, root: .intake/store } }
warehouses: { main: { kind: postgres, connection: "$conn" } }
defaults: { warehouse: main${SMALL_BATCH:+, small_load_batch: $SMALL_BATCH} }
YAML
    $psql_ -c "create database $2_catalog"
  else
    cat > "$1/intake.yaml" <<YAML
catalog: { kind: sqlite, path: .intake/catalog.db }
stores: { local: { kind: local, root: .intake/store } }
warehouses: { main: { kind: sqlite, path: .intake/warehouse.db } }
defaults: { warehouse: main${SMALL_BATCH:+, small_load_batch: $SMALL_BATCH} }
YAML
  fi
  cat > "$1/pipelines/small.yaml" <<YAML
name: small
source: { kind: local, path: ../incoming, stable_for: 0s }
steps: [fetch, validate, archive, load]
load:
  table: $2
  columns: { id: bigint not null, name: text, amount: decimal }
YAML
}

catalog_sql() {  # catalog_sql DIR SCHEMA SQL
  if [ "$catalog" = postgres ]; then ${psql_/-d intake/-d $2_catalog} -c "$3"; else sqlite3 "$1/.intake/catalog.db" "$3"; fi
}
warehouse_sql() {  # warehouse_sql DIR SQL
  if [ "$catalog" = postgres ]; then $psql_ -c "$2"; else sqlite3 "$1/.intake/warehouse.db" "$2"; fi
}

check() {  # check DIR TABLE N: every file one archived load, N×10 rows, no duplicate id
  local loads archived keys rows ids
  loads=$(catalog_sql "$1" "$2" "select count(*) from intake_loads")
  archived=$(catalog_sql "$1" "$2" "select count(*) from intake_loads where status = 'archived'")
  keys=$(catalog_sql "$1" "$2" "select count(distinct source_key) from intake_loads")
  rows=$(warehouse_sql "$1" "select count(*) from $2")
  ids=$(warehouse_sql "$1" "select count(distinct id) from $2")
  echo "check $2: loads $loads, archived $archived, distinct files $keys, rows $rows, distinct ids $ids (expected $3 / $3 / $3 / $(($3 * 10)) / $(($3 * 10)))" >&2
  if [ "$loads" != "$3" ] || [ "$archived" != "$3" ] || [ "$keys" != "$3" ] || [ "$rows" != "$(($3 * 10))" ] || [ "$ids" != "$(($3 * 10))" ]; then
    echo "FAILED: $2 differs from what was expected" >&2; return 1
  fi
}

"${intake[@]}" --help >/dev/null   # build outside the measurement
echo "generating $files files of 10 rows..." >&2
gen "$work/data" "$files"

# ---- the bare tool -------------------------------------------------------------------------------------------------
mkdir -p "$work/bare/archive"
if [ "$catalog" = postgres ]; then
  $psql_ -c "create table bare_small (id bigint not null, name text, amount numeric)"
  ( cd "$work/data" && for f in part-*.csv; do printf '\\copy bare_small from %s with (format csv, header true)\n' "$work/data/$f"; done ) > "$work/bare.sql"
  cpu0=$(pg_cpu); t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$work/bare.cpu" bash -c "cp -p '$work'/data/*.csv '$work/bare/archive/' && $psql_ -v ON_ERROR_STOP=1 -f '$work/bare.sql'"
  t1=$(date +%s.%N); cpu1=$(pg_cpu)
  bare_rows=$($psql_ -c "select count(*) from bare_small"); bare_ids=$($psql_ -c "select count(distinct id) from bare_small")
  bare_server=$(python3 -c "print($cpu1 - $cpu0)")
  bare_what="psql, one session, one \\copy per file"
else
  sqlite3 "$work/bare/warehouse.db" "pragma journal_mode = wal; create table bare_small (id bigint not null, name text, amount numeric)" >/dev/null
  ( cd "$work/data" && for f in part-*.csv; do printf '.import --csv --skip 1 %s bare_small\n' "$work/data/$f"; done ) > "$work/bare.sql"
  t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$work/bare.cpu" bash -c "cp -p '$work'/data/*.csv '$work/bare/archive/' && sqlite3 -bail '$work/bare/warehouse.db' < '$work/bare.sql'"
  t1=$(date +%s.%N)
  bare_rows=$(sqlite3 "$work/bare/warehouse.db" "select count(*) from bare_small"); bare_ids=$(sqlite3 "$work/bare/warehouse.db" "select count(distinct id) from bare_small")
  bare_server=0
  bare_what="sqlite3, one session, one .import per file"
fi
if [ "$bare_rows" != "$((files * 10))" ] || [ "$bare_ids" != "$((files * 10))" ]; then
  echo "FAILED: the bare tool loaded $bare_rows rows ($bare_ids distinct), expected $((files * 10))" >&2; exit 1
fi

# ---- Intake --------------------------------------------------------------------------------------------------------
project "$work/intake" small
mkdir -p "$work/intake/incoming" && cp -p "$work"/data/*.csv "$work/intake/incoming/"
[ "$catalog" = postgres ] && cpu2=$(pg_cpu) || cpu2=0
t2=$(date +%s.%N)
( cd "$work/intake" && /usr/bin/time -f "%U %S" -o "$work/intake.cpu" "${intake[@]}" run --once --workers "$workers" $small_workers > "$work/intake.out" 2> "$work/intake.log" ) \
  || { echo "FAILED: intake run exited non-zero; log:" >&2; tail -20 "$work/intake.log" >&2; exit 1; }
t3=$(date +%s.%N)
[ "$catalog" = postgres ] && cpu3=$(pg_cpu) || cpu3=0
check "$work/intake" small "$files"

# ---- counts per load, from a small run under strace ----------------------------------------------------------------
sfiles=$(( strace_files < files ? strace_files : files ))
project "$work/traced" traced
mkdir -p "$work/traced/incoming" && cp -p "$work"/data/part-*.csv "$work/traced/incoming/" && \
  ( cd "$work/traced/incoming" && ls | tail -n +$((sfiles + 1)) | xargs -r rm -f )
[ "$catalog" = postgres ] && c0=$($psql_ -c "select sum(xact_commit) from pg_stat_database where datname in ('intake', 'traced_catalog')") || c0=0
command -v strace >/dev/null || { echo "strace is not installed: apt-get install strace" >&2; exit 1; }
( cd "$work/traced" && strace -f -y -qq -o "$work/strace.txt" -e trace=fsync,fdatasync,pwrite64,fcntl,rename,renameat,renameat2,link,linkat,openat,unlink,unlinkat \
    "${intake[@]}" run --once --workers "$workers" $small_workers > /dev/null 2> "$work/traced.log" ) || { echo "FAILED: traced run; log:" >&2; tail -20 "$work/traced.log" >&2; exit 1; }
[ "$catalog" = postgres ] && c1=$($psql_ -c "select pg_sleep(0.6); select sum(xact_commit) from pg_stat_database where datname in ('intake', 'traced_catalog')" | tail -1) || c1=0
check "$work/traced" traced "$sfiles"
if [ "$catalog" = sqlite ]; then
  # SQLite: count the catalog's commits from its own tables is not possible; the fsyncs of the WAL are the commits.
  commits="n/a for SQLite (each durable catalog commit is one fsync of the catalog WAL: see above)"
else
  commits=$(python3 -c "print(f'{($c1 - $c0) / $sfiles:.1f} (PostgreSQL xact_commit, catalog + warehouse + reads)')")
fi

python3 - "$files" "$t0" "$t1" "$t2" "$t3" "$work/bare.cpu" "$work/intake.cpu" "$bare_server" "$cpu2" "$cpu3" "$work/strace.txt" "$sfiles" "$catalog" "$workers$small_label" "$bare_what" "$commits" <<'PY'
import sys
a = sys.argv
files = int(a[1]); t0, t1, t2, t3 = map(float, a[2:6])
bu, bs = map(float, open(a[6]).read().split()[-2:]); iu, is_ = map(float, open(a[7]).read().split()[-2:])
bare_server = float(a[8]); intake_server = float(a[10]) - float(a[9])
import os, re, collections
calls = collections.Counter(); syncs = collections.Counter()
for line in open(a[11]):
    m = re.match(r"\d+\s+(\w+)\((?:\d+<([^>]*)>)?", line)
    if not m:
        continue
    name, path = m.group(1), m.group(2) or ""
    calls[name] += 1
    if name == "openat" and "O_CREAT" in line:
        calls["created"] += 1   # files created (new inodes, or an existing file opened to be rewritten)
    if name in ("fsync", "fdatasync"):
        kind = ("catalog " if "catalog" in path else "warehouse " if "warehouse" in path else "") + (
            "WAL" if path.endswith("-wal") else "database file" if path.endswith(".db") else "directory" if os.path.isdir(path) else "")
        syncs[kind or ("store object" if "/store/" in path else "other " + path)] += 1
sf = int(a[12])
bare_t, int_t = t1 - t0, t3 - t2
print(f"small files: {files:,} files of 10 rows, catalog {a[13]}, intake --workers {a[14]}")
print(f"bare tool ({a[15]}): {bare_t:7.2f} s  {files / bare_t:8,.0f} files/s   CPU client {bu + bs:6.2f} s, server {bare_server:6.2f} s  ({(bu + bs + bare_server) / files * 1000:.2f} ms/file)")
print(f"intake run --once          : {int_t:7.2f} s  {files / int_t:8,.0f} files/s   CPU intake {iu + is_:6.2f} s, server {intake_server:6.2f} s  ({(iu + is_ + intake_server) / files * 1000:.2f} ms/file)   {bare_t / int_t:.2f}x the bare tool")
per = lambda k: calls.get(k, 0) / sf
print(f"per load (strace -f, {sf} files, whole run incl. start): fsync+fdatasync {(calls['fsync'] + calls['fdatasync']) / sf:.1f}, "
      f"pwrite64 {per('pwrite64'):.1f}, fcntl {per('fcntl'):.1f}, openat {per('openat'):.1f}, rename {(calls['rename'] + calls['renameat'] + calls['renameat2']) / sf:.1f}, link {(calls['link'] + calls['linkat']) / sf:.1f}, "
      f"files created (openat O_CREAT) {per('created'):.1f}, unlink {(calls['unlink'] + calls['unlinkat']) / sf:.1f}")
print("  fsyncs per load by file: " + ", ".join(f"{k} {v / sf:.1f}" for k, v in syncs.most_common() if v / sf >= 0.05))
print(f"commits per load: {a[16]}")
PY
