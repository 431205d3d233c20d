#!/usr/bin/env bash
# Benchmark of the COLD importer path: a gzipped property CSV fetched from vsftpd (explicit TLS),
# kept in the inbox and archived on the S3 server (s3rver), expanded on local disk and loaded into
# PostgreSQL with binary COPY; and psql \copy ... FROM PROGRAM 'gzip -dc' of the same file in the same
# run. Prints end-to-end rows/s and MB/s, the load step's rows/s against psql, and Intake's peak memory.
#   bench/cold/run.sh [ROWS]     (default 4000000)
# The pipeline streams the data out of the gzipped original into COPY (no decompress step), as psql's
# FROM PROGRAM 'gzip -dc' does; STEPS='fetch, decompress, validate, archive, load' measures the path that
# first expands the file into the local work area.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
rows=${1:-4000000}
work=$(mktemp -d /tmp/intake-cold-bench-XXXX); chmod 755 "$work"
export INTAKE_SERVERS_DIR=$work/servers INTAKE_PG_PORT=${INTAKE_PG_PORT:-55441} INTAKE_FTP_PORT=${INTAKE_FTP_PORT:-2131}
export INTAKE_FTP_PASV_MIN=40400 INTAKE_FTP_PASV_MAX=40480 INTAKE_S3_PORT=${INTAKE_S3_PORT:-4591} INTAKE_S3_TLS_PORT=${INTAKE_S3_TLS_PORT:-4592}
mkdir -p "$INTAKE_SERVERS_DIR"
servers=(postgres vsftpd s3rver)
trap 'for s in "${servers[@]}"; do "$repo/scripts/servers/$s.sh" stop >/dev/null 2>&1 || true; done; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
for s in "${servers[@]}"; do eval "$("$repo/scripts/servers/$s.sh" start | grep '^export ')"; done
field() { tr ';' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
ftp_home=$(field "$INTAKE_TEST_FTP" home); s3_url=$(field "$INTAKE_TEST_S3" url)
curl -sf -X PUT "$s3_url/bench" >/dev/null

echo "generating $rows rows..." >&2
mkdir -p "$ftp_home/outgoing" "$work/project/pipelines"
python3 - "$rows" <<'PY' | gzip -6 > "$ftp_home/outgoing/properties.csv.gz"
import sys, random
random.seed(3)
n = int(sys.argv[1]); w = sys.stdout.write
w("property_id,apn,address,city,state,zip,land_use,assessed_value,year_built,last_sale_date\n")
cities = ["IRVINE", "DALLAS", "TAMPA", "DENVER", "BOSTON", "RENO", "AKRON"]
uses = ["SFR", "CONDO", "MFR", "LAND"]
for i in range(1, n + 1):
    w(f"{i},{random.randint(100,999)}-{random.randint(10,99)}-{random.randint(100,999)},{random.randint(1,9999)} Main St,{random.choice(cities)},CA,{random.randint(10000,99999)},{random.choice(uses)},{random.randint(50,3000)*1000}.00,{random.randint(1900,2023)},2023-0{random.randint(1,9)}-1{random.randint(0,9)}\n")
PY
chmod -R a+rX "$ftp_home/outgoing"
file="$ftp_home/outgoing/properties.csv.gz"; size=$(stat -c %s "$file")

cat > "$work/project/intake.yaml" <<YAML
catalog: { kind: postgres, connection: "$INTAKE_TEST_PG" }
stores:
  s3: { kind: s3, url: "$s3_url", bucket: bench, access_key: $(field "$INTAKE_TEST_S3" access_key), secret_key: $(field "$INTAKE_TEST_S3" secret_key) }
  scratch: { kind: local, root: .intake/scratch }
warehouses: { pg: { kind: postgres, connection: "$INTAKE_TEST_PG" } }
defaults: { store: s3, warehouse: pg }
YAML
cat > "$work/project/pipelines/properties.yaml" <<YAML
name: properties
source: { kind: ftp, host: 127.0.0.1, port: $INTAKE_FTP_PORT, user: $(field "$INTAKE_TEST_FTP" user), password: $(field "$INTAKE_TEST_FTP" password), tls: explicit, trust_certificate: "$(field "$INTAKE_TEST_FTP" cert)", path: outgoing, stable_for: 0s }
work_store: scratch
steps: [${STEPS:-fetch, validate, archive, load}]
load:
  table: staging.properties
  columns: { property_id: bigint not null, apn: text, address: text, city: text, state: text, zip: text, land_use: text, assessed_value: decimal, year_built: integer, last_sale_date: date }
YAML
psql_="psql -qAt -h 127.0.0.1 -p $INTAKE_PG_PORT -U postgres -d intake"
$psql_ -c "create table psql_properties (property_id bigint not null, apn text, address text, city text, state text, zip text, land_use text, assessed_value numeric, year_built integer, last_sale_date date)"
"$repo/intake" --help >/dev/null
now() { date +%s.%N; }
t0=$(now); $psql_ -c "\\copy psql_properties from program 'gzip -dc $file' with (format csv, header true)"; t1=$(now)
( cd "$work/project" && /usr/bin/time -f "%M" -o "$work/mem" "$repo/intake" run --once --json > "$work/out.json" 2>"$work/log" ) || { tail -20 "$work/log"; exit 1; }
t2=$(now)
(cd "$work/project" && "$repo/intake" show 1 --json) > "$work/show.json"
python3 - "$rows" "$size" "$t0" "$t1" "$t2" "$(cat "$work/mem")" "$work/show.json" "$($psql_ -c 'select count(*) from psql_properties')" "$($psql_ -c 'select count(*) from staging.properties')" <<'PY'
import sys, json, datetime as d
rows, size = int(sys.argv[1]), int(sys.argv[2]); t0, t1, t2 = map(float, sys.argv[3:6]); mem = int(sys.argv[6])
steps = json.load(open(sys.argv[7]))["steps"]; prow, irow = int(sys.argv[8]), int(sys.argv[9])
f = lambda t: d.datetime.fromisoformat(t)
took = {s["step"]: (f(s["finished_at"]) - f(s["started_at"])).total_seconds() for s in steps if s["outcome"] == "succeeded"}
ps, it = t1 - t0, t2 - t1
assert prow == rows and irow == rows, (prow, irow, rows)
print(f"file: {rows:,} rows, {size/1e6:.1f} MB gzipped")
print(f"psql \\copy FROM PROGRAM gzip -dc : {ps:6.2f} s  {rows/ps:10,.0f} rows/s")
print(f"intake end to end (ftp→s3→pg)  : {it:6.2f} s  {rows/it:10,.0f} rows/s  {size/1e6/it:6.1f} MB/s gz  ratio {ps/it:.2f}x psql")
print(f"intake load step               : {took['load']:6.2f} s  {rows/took['load']:10,.0f} rows/s  ratio {ps/took['load']:.2f}x psql")
print("steps: " + ", ".join(f"{k} {v:.2f}s" for k, v in took.items()))
print(f"intake peak memory (RSS)       : {mem/1024:.0f} MB")
PY
