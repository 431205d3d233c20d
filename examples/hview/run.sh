#!/usr/bin/env bash
# The HView data processor example, end to end, with one command (as root: Postfix's master runs as root):
#   examples/hview/run.sh
# Starts Postfix, s3rver and PostgreSQL from scripts/servers (fresh, on ports of the example's own; installing them
# first when they are missing), then `intake serve` (the jobs API and the SMTP listener), and plays HView's two ways in:
#   1. mail through Postfix: Postfix's pipe transport runs `intake mail` (as its unprivileged user) for every recipient
#      of hview.intake.test: a hydrastor system report (body key: value lines and a CSV attachment), an alert, and a
#      mail that no route takes (kept, errored with kind config and the reason, re-drivable once the routes are fixed);
#   2. mail straight to `intake serve --smtp`: the same day's report, corrected, sent twice (the second is the same
#      message: one load, no row added; the first replaces the first report's rows: upserted by grid and date);
#   3. an upload: a tar.gz of Veritas CSVs put into the veritas2hview bucket at <customer>/<category>/<type>/<group>/
#      <datetime>/<file>.tar.gz, then HView's trigger, POST /api/1.0/veritas2hview/update, with the spec's curl body;
# then prints GET /api/1.0/jobs and the tables, checks them against expected/*.csv, the unroutable mail, the jobs'
# statuses, the archive's layout and `intake audit`, prints an OK line per check and exits 1 when any check fails.
# Stops what it started at the end; KEEP=1 leaves the servers running (the next run starts them afresh).
#   INTAKE_CLI='dotnet …/intake.dll' runs another build of the CLI than ./intake (the tests do).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=${INTAKE_REPO:-$(cd "$here/../.." && pwd)}
export INTAKE_SERVERS_DIR=${INTAKE_SERVERS_DIR:-/tmp/intake-hview-example}
# Ports of the example's own, away from the defaults, the test suite's and the other examples', and below 32768, where
# Linux never hands out the free ports that tests ask for (its ephemeral range is 32768-60999).
export INTAKE_PG_PORT=${INTAKE_PG_PORT:-25451} INTAKE_S3_PORT=${INTAKE_S3_PORT:-24601} INTAKE_S3_TLS_PORT=${INTAKE_S3_TLS_PORT:-24602}
export INTAKE_SMTP_PORT=${INTAKE_SMTP_PORT:-22541}      # Postfix
smtp_port=${HVIEW_SMTP_PORT:-22542}                     # intake serve --smtp
serve_port=${HVIEW_SERVE_PORT:-28093}                   # intake serve's API
domain=hview.intake.test                                # scripts/servers/postfix.sh pipes intake.test and its subdomains
mkdir -p "$INTAKE_SERVERS_DIR"; chmod 755 "$INTAKE_SERVERS_DIR"

[ "$(id -u)" = 0 ] || { echo "run.sh: run as root: Postfix's master runs as root (it drops to its own users)" >&2; exit 1; }

servers=(postgres s3rver postfix)
serve_pid=""
cleanup() {
  local status=$?
  [ "$status" = 0 ] || [ ! -s "${log:-}" ] || { echo "stopped with exit $status; the last lines of $log:" >&2; tail -20 "$log" >&2; }
  if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  if [ -z "${KEEP:-}" ]; then for s in "${servers[@]}"; do "$repo/scripts/servers/$s.sh" stop >/dev/null 2>&1 || true; done; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT   # so that cleanup runs when the script is stopped too
# Only the servers started here: never settings inherited from the environment (a developer's test servers).
unset INTAKE_TEST_PG INTAKE_TEST_S3 INTAKE_TEST_S3_TLS INTAKE_TEST_POSTFIX INTAKE_POSTFIX_PIPE
for s in "${servers[@]}"; do
  "$repo/scripts/servers/$s.sh" install >&2
  "$repo/scripts/servers/$s.sh" stop >/dev/null 2>&1 || true   # a fresh server each run: empty buckets, catalog, queue
  env_lines=$("$repo/scripts/servers/$s.sh" start) || { echo "run.sh: $s did not start (see above)" >&2; exit 1; }
  eval "$(grep "^export " <<<"$env_lines")"
done
[ -n "${INTAKE_TEST_PG:-}" ] && [ -n "${INTAKE_TEST_S3:-}" ] && [ -n "${INTAKE_TEST_POSTFIX:-}" ] \
  || { echo "run.sh: the servers did not say where they listen" >&2; exit 1; }
field() { tr ';' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
export HVIEW_PG="$INTAKE_TEST_PG"
export HVIEW_S3_URL=$(field "$INTAKE_TEST_S3" url) HVIEW_S3_ACCESS_KEY=$(field "$INTAKE_TEST_S3" access_key) HVIEW_S3_SECRET_KEY=$(field "$INTAKE_TEST_S3" secret_key)
hooks=$(field "$INTAKE_TEST_POSTFIX" hooks)
log=$INTAKE_SERVERS_DIR/intake.log; : >"$log"   # what the commands log (they log to stderr when it is not a terminal)

# The CLI. Postfix's pipe user runs it too, so it must be built already (./intake builds on first use, as root).
if [ -n "${INTAKE_CLI:-}" ]; then
  read -ra cli <<<"$INTAKE_CLI"
else
  "$repo/intake" --help >/dev/null
  cli=(dotnet "$repo/artifacts/intake/intake.dll")
fi
intake() { "${cli[@]}" --config "$here" "$@"; }
psql_() { psql -qAt -h 127.0.0.1 -p "$INTAKE_PG_PORT" -U postgres -d intake "$@"; }
table() { echo; psql -h 127.0.0.1 -p "$INTAKE_PG_PORT" -U postgres -d intake -P footer=off -c "$1"; }

failed=0
check() {   # what, expected, actual
  if [ "$2" = "$3" ]; then echo "OK    $1"; else echo "FAIL  $1: expected '$2', got '$3'"; failed=1; fi
}
check_table() {   # table, columns (in the order of expected/<table>.csv), order by
  local got
  got=$(psql_ -c "copy (select $2 from $1 order by $3) to stdout with (format csv, header)")
  if [ "$got" = "$(cat "$here/expected/$1.csv")" ]; then
    echo "OK    $1 equals expected/$1.csv ($(($(wc -l <"$here/expected/$1.csv") - 1)) rows)"
  else
    echo "FAIL  $1 differs from expected/$1.csv:"; diff <(echo "$got") "$here/expected/$1.csv" || true; failed=1
  fi
}
loads_json() { intake loads --json "$@"; }
py() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }
# Waits until the catalog has at least $1 loads and none is still on its way (ready, ingesting, archiving, ...).
wait_final() {
  for _ in $(seq 240); do
    [ "$(loads_json | py 'print(sum(1 for l in d if l["status"] in ("archived","errored","held")) if len(d) >= '"$1"' and all(l["status"] in ("archived","errored","held") for l in d) else 0)')" -ge "$1" ] && return 0
    sleep 0.5
  done
  echo "run.sh: the loads did not finish in 2 minutes:" >&2; intake loads >&2; return 1
}

# The store's bucket (inbox, work area, archive) and the module's upload bucket; s3rver takes unsigned bucket creation.
for b in hview-store veritas2hview; do curl -sf -X PUT "$HVIEW_S3_URL/$b" >/dev/null; done
intake validate

# Postfix's pipe for the example's domain: scripts/servers/postfix.sh runs hooks/<recipient domain> as its pipe user
# (never root) with the envelope as arguments and the message on standard input. In a deployment this is the
# master.cf line of docs/mail.md: argv=/usr/local/bin/intake mail --config … --sender ${sender} --recipient ${recipient}
cat >"$hooks/$domain" <<HOOK
#!/bin/sh
export HOME=/tmp DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export HVIEW_PG='$HVIEW_PG' HVIEW_S3_URL='$HVIEW_S3_URL' HVIEW_S3_ACCESS_KEY='$HVIEW_S3_ACCESS_KEY' HVIEW_S3_SECRET_KEY='$HVIEW_S3_SECRET_KEY'
exec ${cli[*]} mail --config '$here' --sender "\$1" --recipient "\$2"
HOOK
chmod 755 "$hooks/$domain"

echo; echo "== intake serve: the REST API (http://127.0.0.1:$serve_port) and the SMTP listener (127.0.0.1:$smtp_port)"
admin_key=$(intake keys create --scope admin --name "hview example: jobs" 2>>"$log")
upload_key=$(intake keys create --customer bobs_burgers --scope write --name "bobs_burgers uploads" 2>>"$log")
# Not through the intake function: $! must be the server's own process, to stop it by its PID.
"${cli[@]}" --config "$here" serve --urls "http://127.0.0.1:$serve_port" --smtp "127.0.0.1:$smtp_port" \
  --poll 500ms --sweep-every 1s >>"$log" 2>&1 &
serve_pid=$!
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$serve_port/healthz" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$serve_port/healthz" >/dev/null || { echo "run.sh: intake serve did not start" >&2; exit 1; }

send() {   # port, envelope recipient, message file; prints the server's reply to the message
  local out
  out=$(swaks --server 127.0.0.1 --port "$1" --from nas1@hydrastor.example --to "$2" --data "$3" 2>&1) \
    || { echo "run.sh: swaks could not send $3 to $2 at port $1:" >&2; echo "$out" >&2; return 1; }
  grep -E '^<-+ +250 ' <<<"$out" | tail -1 | sed -E 's/^<-+ +//'
}

echo; echo "== 1. mail through Postfix (SMTP 127.0.0.1:$INTAKE_SMTP_PORT, pipe -> intake mail): a system report, an alert, an unroutable mail"
for m in system_report:reports alert:alerts unroutable:reports; do
  echo "  swaks -> Postfix: data/${m%%:*}.eml to ${m#*:}+bobs_burgers@$domain: $(send "$INTAKE_SMTP_PORT" "${m#*:}+bobs_burgers@$domain" "$here/data/${m%%:*}.eml")"
done
wait_final 3
intake loads

echo; echo "== 2. mail straight to intake serve --smtp: the corrected report of the same grid and day, sent twice"
first=$(send "$smtp_port" "reports+bobs_burgers@$domain" "$here/data/system_report_corrected.eml")
echo "  swaks -> intake serve: $first"
wait_final 4
again=$(send "$smtp_port" "reports+bobs_burgers@$domain" "$here/data/system_report_corrected.eml")
echo "  swaks -> intake serve, the same message again: $again"
check "the corrected report over SMTP: 250 once stored" yes "$(grep -q '^250 2.0.0 accepted as load' <<<"$first" && echo yes || echo no)"
check "the same message again: 250, received before, not registered again" yes "$(grep -q '^250 2.0.0 received before as load' <<<"$again" && echo yes || echo no)"

echo; echo "== 3. an upload: a tar.gz of CSVs into the veritas2hview bucket, then HView's trigger"
stamp=$(date -u +%Y%m%d_%H%M%S)
s3_path="bobs_burgers/hydrastor/veritas2hview/icecream_machine/$stamp/veritas_dump.tar.gz"
dump=$(mktemp); tar -czf "$dump" -C "$here/data/veritas" dump
# aws s3 cp veritas_dump.tar.gz "s3://veritas2hview/$s3_path" --endpoint-url "$HVIEW_S3_URL", without the AWS CLI:
curl -sSf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$HVIEW_S3_ACCESS_KEY:$HVIEW_S3_SECRET_KEY" \
  -H "x-amz-content-sha256: $(sha256sum "$dump" | cut -d' ' -f1)" -T "$dump" "$HVIEW_S3_URL/veritas2hview/$s3_path" >/dev/null
rm -f "$dump"
echo "  put s3://veritas2hview/$s3_path"
# The spec's request, as HView's upload clients send it (s3_path without the bucket's name).
trigger=$(curl -sS --location --request POST "http://127.0.0.1:$serve_port/api/1.0/veritas2hview/update" \
--header 'Content-Type: application/json' \
--header 'Accept: application/json' \
--header "X-Api-Key: $upload_key" \
--data-raw '{
  "uid" : "u-42",
  "customer" : "bobs_burgers",
  "grid" : "icecream_machine",
  "s3_path" : "'"$s3_path"'"
}')
echo "  POST /api/1.0/veritas2hview/update: $trigger"
check "the trigger queued a job" queued "$(py 'print(d.get("status"))' <<<"$trigger")"
wait_final 5

echo; echo "== GET /api/1.0/jobs"
jobs=$(curl -sSf "http://127.0.0.1:$serve_port/api/1.0/jobs" -H "X-Api-Key: $admin_key")
py 'print(json.dumps(d, indent=2))' <<<"$jobs"
echo; echo "jobs:"
py 'print("\n".join("  %3d %-14s %-13s %-17s %-10s %s" % (j["id"], j["module"], j["customer"], j["grid"], j["status"], j["s3_path"]) for j in reversed(d["jobs"])))' <<<"$jobs"

echo; echo "== the tables"
table "select customer, grid, date, capacity_used, nodes, _intake_load_id from hydrastor_system_reports order by grid, date"
table "select grid, date, node, status, _intake_load_id from hydrastor_nodes order by grid, date, node"
table "select customer, subject, node, severity, raised_at from hydrastor_alerts order by raised_at"
table "select customer, grid, job_id, policy, status, started from veritas_jobs order by grid, job_id"
table "select grid, policy, schedule, retention_days from veritas_policies order by grid, policy"
check_table hydrastor_system_reports "customer, grid, date, capacity_used, nodes" "grid, date"
check_table hydrastor_nodes "grid, date, node, status" "grid, date, node"
check_table hydrastor_alerts "customer, subject, node, severity, raised_at" "raised_at"
check_table veritas_jobs "customer, grid, job_id, policy, status, started" "grid, job_id"
check_table veritas_policies "grid, policy, schedule, retention_days" "grid, policy"

echo; echo "== the jobs"
check "two system report loads: the Postfix one and the corrected one (its second send is no load)" 2 \
  "$(loads_json --pipeline system_report | py 'print(sum(1 for l in d if l["customer"] == "bobs_burgers"))')"
corrected=$(loads_json --pipeline system_report | py 'print(max(l["id"] for l in d if l["customer"] == "bobs_burgers"))')
check "the corrected report replaced the first one's rows (upsert by grid and date)" \
  "hydrastor_system_reports: 1 row (1 of older loads replaced); hydrastor_nodes: 2 rows (2 of older loads replaced)" \
  "$(intake show "$corrected" --json | py 'print(next(s["message"] for s in d["steps"] if s["step"] == "module"))')"
unroutable=$(py 'print(next(j["id"] for j in d["jobs"] if j["status"] == "failed"))' <<<"$jobs")
echo; echo "the unroutable mail (kept in the inbox; fix the routes, then: intake redrive $unroutable):"
intake show "$unroutable"
unroutable_json=$(intake show "$unroutable" --json)
check "the unroutable mail's load is errored" errored "$(py 'print(d["load"]["status"])' <<<"$unroutable_json")"
check "... with kind config" config "$(py 'print(d["load"]["error_kind"])' <<<"$unroutable_json")"
check "... and the reason (the subject no route takes)" yes \
  "$(py 'print(d["load"]["error_message"])' <<<"$unroutable_json" | grep -q "the subject 'Weekly capacity newsletter' does not match" && echo yes || echo no)"
kept=$(py 'print(next(o[len("inbox:"):] for s in d["steps"] if s["step"] == "receive" for o in s["outputs"] if o.startswith("inbox:")))' <<<"$unroutable_json")
check "... kept in the inbox, under the unrouted folder" yes \
  "$(grep -Eq '^hview/hydrastor/unrouted/system_report/[0-9]{8}_[0-9]{6}_[0-9a-f]{8}/message\.eml$' <<<"$kept" \
     && curl -sf "$HVIEW_S3_URL/hview-store?list-type=2&prefix=inbox/$kept" | grep -q "<Key>inbox/$kept</Key>" && echo yes || echo no)"
check "each job's grid is its group in HView's layout (the unroutable mail has none: its pipeline's)" \
  "alert:n3 system_report:default system_report:icecream_machine system_report:icecream_machine veritas2hview:icecream_machine" \
  "$(py 'print(" ".join(sorted(j["module"] + ":" + j["grid"] for j in d["jobs"])))' <<<"$jobs")"
check "every other job completed" "completed completed completed completed" \
  "$(py 'print(" ".join(j["status"] for j in reversed(d["jobs"]) if j["id"] != '"$unroutable"'))' <<<"$jobs")"

echo; echo "== the archive: <customer>/<category>/<type>/<group>/<yyyyMMdd_HHmmss>..."
archive=$(curl -sf "$HVIEW_S3_URL/hview-store?list-type=2&prefix=archive/" | { grep -o "<Key>[^<]*</Key>" || true; } | sed -e 's/<Key>archive\///' -e 's/<\/Key>//' | sort)
sed 's/^/  archive\//' <<<"$archive"
layout='^bobs_burgers/hydrastor/(system_report/icecream_machine|alert/n3|veritas2hview/[^/]+)/[0-9]{8}_[0-9]{6}(_[0-9a-f]{8})?/'
check "every archived object lies under <customer>/<category>/<type>/<group>/<yyyyMMdd_HHmmss>" 0 "$(grep -Evc "$layout" <<<"$archive" || true)"
check "two system reports and the alert archived with their messages" 3 "$(grep -Ec '^bobs_burgers/hydrastor/(system_report/icecream_machine|alert/n3)/[^/]+/message\.eml$' <<<"$archive" || true)"
check "the upload archived" 1 "$(grep -Ec '^bobs_burgers/hydrastor/veritas2hview/.*/veritas_dump\.tar\.gz$' <<<"$archive" || true)"

echo
if intake audit; then audit=0; else audit=$?; fi
check "intake audit: rows parsed = rows written = rows in the tables, for every load" 0 "$audit"

echo
if [ "$failed" = 0 ]; then echo "all checks passed"; else echo "some checks FAILED"; fi
exit "$failed"
