#!/usr/bin/env bash
# Benchmark: a gzipped CSV loaded into PostgreSQL by `intake run --once` (SQLite catalog, local store on the same
# file system as the source folder, PostgreSQL warehouse with binary COPY) and by
# `psql \copy ... FROM PROGRAM 'gzip -dc'`, on the same file in the same run. Prints the end-to-end time of both, the
# ratio, Intake's time per step (fetch, validate, archive, load, and release with remove_after) from its step records,
# and Intake's peak memory; then checks every value of Intake's table against psql's (exit 1 on any difference).
#   bench/load-csv/run.sh [ROWS]      (default 1000000)
# Environment:
#   SHAPE=wide    (default) the issue's file: 28 columns of text, integers, decimals, doubles, booleans, dates and
#                 timestamps, with quoted commas and quotes, embedded newlines and non-ASCII text, and empty (NULL) values
#   SHAPE=narrow  the earlier 10-column file
#   FETCH=link    (default) source.remove_after: true, so the fetch may hard-link the file into the inbox (no copy);
#                 the archive links the read-only original in either mode
#   FETCH=copy    no remove_after: the fetch copies the file (or clones it on btrfs/xfs)
#   STEPS='fetch, decompress, validate, archive, load' measures the path through the work area
#   MASTER=file   load this gzipped file (made by an earlier run: KEEP=1 keeps its data/) instead of generating one
#   REPS=3        runs; medians are printed (wall time, and CPU seconds: each client's own and the server's for it)
# The pipeline streams the gzipped original into COPY (no decompress step), as psql's FROM PROGRAM does. Each run
# first puts a fresh copy of the file into the source folder (not timed): with remove_after Intake deletes it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
rows=${1:-1000000}
shape=${SHAPE:-wide}
fetch=${FETCH:-link}
work=$(mktemp -d /tmp/intake-bench-XXXX); chmod 755 "$work"   # the postgres user must reach its data folder
export INTAKE_SERVERS_DIR=$work/servers INTAKE_PG_PORT=${INTAKE_PG_PORT:-55439}
trap '"$repo/scripts/servers/postgres.sh" stop; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
eval "$("$repo/scripts/servers/postgres.sh" start)"; conn=$INTAKE_TEST_PG
export PGOPTIONS="-c client_min_messages=warning"
psql_="psql -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $INTAKE_PG_PORT -U postgres -d intake"

echo "generating $rows rows ($shape)..." >&2
mkdir -p "$work/project/incoming" "$work/project/pipelines" "$work/data"
master="$work/data/orders.csv.gz"
if [ -n "${MASTER:-}" ]; then cp "$MASTER" "$master"; else   # MASTER=file: the same file again (data/ of a KEEP=1 run)
python3 - "$rows" "$shape" <<'PY' | gzip -6 > "$master"
import sys, random
random.seed(1)
n, shape = int(sys.argv[1]), sys.argv[2]
w = sys.stdout.write
if shape == "narrow":
    w("property_id,address,city,state,zip,price,bedrooms,listed_on,owner,notes\n")
    cities = ["Springfield", "Portland", "Austin", "Madison", "Raleigh", "Boise", "Tulsa"]
    for i in range(1, n + 1):
        w(f"{i},{random.randint(1,9999)} Oak St,{random.choice(cities)},TX,{random.randint(10000,99999)},{random.randint(80,2000)*1000}.00,{random.randint(1,6)},2024-0{random.randint(1,9)}-1{random.randint(0,9)},Owner {i % 5000},\"note, with comma {i % 97}\"\n")
    sys.exit(0)
def q(s):
    return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"\n\r') else s
names = ["Müller", "José Ñúñez", "Zoë Ærø", "Łukasz Żółć", "Søren Kierkegård", "北京 李", "Ана Иванова", "O'Brien", "Smith", "Nguyễn Văn"]
cities = ["München", "Zürich", "Kraków", "São Paulo", "Reykjavík", "東京", "Portland", "Montréal", "Malmö", "Austin"]
regions = ["BY", "ZH", "MA", "SP", "HB", "13", "OR", "QC", "M", "TX"]
status = ["new", "paid", "shipped", "returned", "cancelled"]
channel = ["web", "store", "phone", "partner"]
notes = ["", "deliver to the back door", "line one\nline two", 'he said "leave it", then left', "fragile, handle with care", "→ priority ✓", "multi\r\nline, \"quoted\"\nthird"]
w("id,order_ref,customer,email,street,city,region,postcode,country,phone,note,qty,unit_price,discount,total,tax_rate,weight_kg,is_gift,is_paid,ordered_on,shipped_on,created_at,updated_at,status,channel,score,batch,comment\n")
for i in range(1, n + 1):
    r = random.random
    qty = random.randint(1, 50); price = random.randint(100, 99999); disc = random.randint(0, 250)
    total = qty * price * (1000 - disc)  # in 1/100000 of the unit
    day = random.randint(1, 28); mon = random.randint(1, 12)
    note = notes[i % 7] or f"n{i}"
    w(",".join([
        str(i), f"ORD-{i:08d}", q(random.choice(names)), f"user{i % 50000}@example.com",
        q(f"{random.randint(1,999)} {random.choice(['Hauptstraße', 'Rue de l’Église', 'Main St, Apt 4', 'Øvre gate'])}"),
        q(random.choice(cities)), random.choice(regions), f"{random.randint(1000,99999)}", random.choice(["DE", "CH", "PL", "BR", "IS", "JP", "US", "CA", "SE"]),
        f"+{random.randint(1,99)} {random.randint(100000000,999999999)}", q(note),
        str(qty), f"{price // 100}.{price % 100:02d}", f"0.{disc:03d}", f"{total // 100000}.{total % 100000:05d}",
        repr(round(r() * 0.25, 6)), repr(round(r() * 1000, 3)),
        random.choice(["true", "false"]), random.choice(["true", "false"]),
        f"2024-{mon:02d}-{day:02d}", f"2024-{mon:02d}-{min(day + random.randint(0, 3), 28):02d}",
        f"2024-{mon:02d}-{day:02d} {random.randint(0,23):02d}:{random.randint(0,59):02d}:{random.randint(0,59):02d}",
        f"2025-{mon:02d}-{day:02d} {random.randint(0,23):02d}:{random.randint(0,59):02d}:{random.randint(0,59):02d}.{random.randint(0,999999):06d}",
        random.choice(status), random.choice(channel), "" if i % 10 == 0 else str(random.randint(0, 100)),
        str(i // 1000), q(f"comment {i % 131}, «{random.choice(names)}» said \"ok\""),
    ]) + "\n")
PY
fi
size=$(stat -c %s "$master")

if [ "$shape" = narrow ]; then
  table=properties
  cols="property_id bigint not null, address text, city text, state text, zip text, price numeric, bedrooms integer, listed_on date, owner text, notes text"
  yaml_cols="{ property_id: bigint not null, address: text, city: text, state: text, zip: text, price: decimal, bedrooms: integer, listed_on: date, owner: text, notes: text }"
else
  table=orders
  cols="id bigint not null, order_ref text, customer text, email text, street text, city text, region text, postcode text, country text, phone text, note text, qty integer, unit_price numeric, discount numeric, total numeric, tax_rate double precision, weight_kg double precision, is_gift boolean, is_paid boolean, ordered_on date, shipped_on date, created_at timestamp, updated_at timestamp, status text, channel text, score integer, batch bigint, comment text"
  yaml_cols="{ id: bigint not null, order_ref: text, customer: text, email: text, street: text, city: text, region: text, postcode: text, country: text, phone: text, note: text, qty: integer, unit_price: decimal, discount: decimal, total: decimal, tax_rate: double, weight_kg: double, is_gift: boolean, is_paid: boolean, ordered_on: date, shipped_on: date, created_at: timestamp, updated_at: timestamp, status: text, channel: text, score: integer, batch: bigint, comment: text }"
fi
names=$(echo "$cols" | tr ',' '\n' | awk '{print $1}' | paste -sd, -)

cat > "$work/project/intake.yaml" <<YAML
catalog: { kind: sqlite, path: .intake/catalog.db }
stores: { local: { kind: local, root: .intake/store } }
warehouses: { pg: { kind: postgres, connection: "$conn" } }
defaults: { warehouse: pg }
YAML
cat > "$work/project/pipelines/$table.yaml" <<YAML
name: $table
source: { kind: local, path: ../incoming, stable_for: 0s, remove_after: $([ "$fetch" = link ] && echo true || echo false) }
steps: [${STEPS:-fetch, validate, archive, load}]
load:
  table: $table
  columns: $yaml_cols
YAML

"$repo/intake" --help >/dev/null   # build outside the measurement
reps=${REPS:-3}
now() { date +%s.%N; }
# The server's CPU seconds so far: the postmaster's reaped children (every backend, once its session ends) plus its
# own. Read before and after each side, so each side's backend is counted (the CPU each side costs the server).
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15 + $16 + $17) / hz }' "/proc/$(head -1 "$INTAKE_SERVERS_DIR/pg/data/postmaster.pid")/stat"; }
: > "$work/times"; : > "$work/steps"
for r in $(seq "$reps"); do
  $psql_ -c "drop table if exists psql_$table; drop table if exists $table; create table psql_$table ($cols)"
  rm -rf "$work/project/.intake" "$work/project/incoming"/*
  cp "$master" "$work/project/incoming/$table.csv.gz"; touch -d '-1 minute' "$work/project/incoming/$table.csv.gz"; sync
  s0=$(server_cpu); t0=$(now)
  /usr/bin/time -f "%U %S" -o "$work/psql.cpu" $psql_ -c "\\copy psql_$table from program 'gzip -dc $master' with (format csv, header true)"
  t1=$(now); sleep 0.2; s1=$(server_cpu); t1b=$(now)
  ( cd "$work/project" && /usr/bin/time -f "%M %U %S" -o "$work/intake.mem" "$repo/intake" run --once --json > "$work/intake.json" 2>"$work/intake.log" )
  t2=$(now); sleep 0.2; s2=$(server_cpu)
  psql_rows=$($psql_ -c "select count(*) from psql_$table")
  intake_rows=$($psql_ -c "select count(*) from $table")
  # Every value: the rows of each table that the other lacks, counting duplicates (EXCEPT ALL both ways).
  diff_rows=$($psql_ -c "select (select count(*) from (select $names from psql_$table except all select $names from $table) a) + (select count(*) from (select $names from $table except all select $names from psql_$table) b)")
  (cd "$work/project" && "$repo/intake" show 1 --json) | python3 -c "
import json, sys, datetime as d
f = d.datetime.fromisoformat
steps = json.load(sys.stdin)['steps']
out = {s['step']: (f(s['finished_at']) - f(s['started_at'])).total_seconds() for s in steps if s['outcome'] == 'succeeded'}
out['how'] = {s['step']: s.get('message') for s in steps if s['outcome'] == 'succeeded' and s['step'] in ('fetch', 'archive')}
print(json.dumps(out))" >> "$work/steps"
  read -r im iu is < "$work/intake.mem"; read -r pu ps < "$work/psql.cpu"
  echo "$t0 $t1 $t2 $psql_rows $intake_rows $im $diff_rows $t1b $pu $ps $iu $is $s0 $s1 $s2" >> "$work/times"
done
python3 - "$rows" "$size" "$work/times" "$work/steps" "$shape" "$fetch" <<'PY2'
import sys, json, statistics as st
rows, size, shape, fetch = int(sys.argv[1]), int(sys.argv[2]), sys.argv[5], sys.argv[6]
runs = [list(map(float, l.split())) for l in open(sys.argv[3])]
steps = [json.loads(l) for l in open(sys.argv[4])]
ps = [r[1] - r[0] for r in runs]; it = [r[2] - r[7] for r in runs]
m = st.median
print(f"file: {rows:,} rows ({shape}), {size/1e6:.1f} MB gzipped; fetch mode {fetch}; {len(runs)} runs, medians (each run: psql then intake on fresh tables)")
print(f"psql \\copy FROM PROGRAM gzip -dc : {m(ps):6.2f} s  {rows/m(ps):12,.0f} rows/s   runs: {' '.join(f'{x:.2f}' for x in ps)}")
print(f"intake run --once (end to end) : {m(it):6.2f} s  {rows/m(it):12,.0f} rows/s   runs: {' '.join(f'{x:.2f}' for x in it)}   ratio {m(ps)/m(it):.2f}x psql")
for name in ["fetch", "decompress", "validate", "archive", "load", "release"]:
    xs = [s[name] for s in steps if name in s]
    if xs:
        extra = f"   ratio {m(ps)/m(xs):.2f}x psql" if name == "load" else ""
        print(f"  step {name:<10}               : {m(xs):6.2f} s   runs: {' '.join(f'{x:.2f}' for x in xs)}{extra}")
print(f"  outside the steps (start, discovery, catalog): {m(it) - m([sum(v for k, v in s.items() if k != 'how') for s in steps]):6.2f} s")
for step, message in steps[-1]['how'].items():
    print(f"  {step} (last run): {(message or 'copied').split('; SHA-256')[0]}")
cpu = lambda xs: ' '.join(f'{x:.2f}' for x in xs)
pc = [r[8] + r[9] for r in runs]; pcs = [r[13] - r[12] for r in runs]; ic = [r[10] + r[11] for r in runs]; ics = [r[14] - r[13] for r in runs]
print(f"CPU seconds (user+sys), medians: psql+gzip {m(pc):.2f} + server {m(pcs):.2f} = {m(pc) + m(pcs):.2f}; intake {m(ic):.2f} + server {m(ics):.2f} = {m(ic) + m(ics):.2f}")
print(f"  runs: psql+gzip {cpu(pc)}  server {cpu(pcs)} | intake {cpu(ic)}  server {cpu(ics)}")
print(f"intake peak memory (RSS)       : {max(r[5] for r in runs)/1024:.0f} MB (largest of the runs)")
bad = [(int(r[3]), int(r[4]), int(r[6])) for r in runs if int(r[3]) != rows or int(r[4]) != rows or int(r[6]) != 0]
if bad:
    print(f"DIFFERENCE: (psql rows, intake rows, rows differing in some value) per failing run: {bad}; expected {rows} rows and 0 differences")
    sys.exit(1)
print(f"values: every row of every run equal in both tables ({rows:,} rows x {len(runs)} runs, EXCEPT ALL both ways)")
PY2
