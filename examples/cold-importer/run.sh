#!/usr/bin/env bash
# The COLD importer example, end to end, with one command:
#   examples/cold-importer/run.sh
# Starts vsftpd (FTP + explicit TLS), s3rver (S3) and PostgreSQL from scripts/servers (installing them
# first when run as root and they are missing), drops the sample archives in the FTP server's
# outgoing/ folder, creates the buckets, runs the pipeline once and prints the loads, the audit and
# the application table. Stops the servers it started at the end; KEEP=1 leaves them running.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
export INTAKE_SERVERS_DIR=${INTAKE_SERVERS_DIR:-/tmp/intake-cold-example}
# ports of the example's own, away from the defaults and from the test suite's
export INTAKE_PG_PORT=${INTAKE_PG_PORT:-55435} INTAKE_FTP_PORT=${INTAKE_FTP_PORT:-2124}
export INTAKE_FTP_PASV_MIN=${INTAKE_FTP_PASV_MIN:-40300} INTAKE_FTP_PASV_MAX=${INTAKE_FTP_PASV_MAX:-40380}
export INTAKE_S3_PORT=${INTAKE_S3_PORT:-4575} INTAKE_S3_TLS_PORT=${INTAKE_S3_TLS_PORT:-4576}
mkdir -p "$INTAKE_SERVERS_DIR"; chmod 755 "$INTAKE_SERVERS_DIR"
servers=(postgres vsftpd s3rver)
stop_all() { for s in "${servers[@]}"; do "$repo/scripts/servers/$s.sh" stop >/dev/null 2>&1 || true; done; }
[ -n "${KEEP:-}" ] || trap stop_all EXIT
for s in "${servers[@]}"; do
  [ "$(id -u)" = 0 ] && "$repo/scripts/servers/$s.sh" install >&2
  eval "$("$repo/scripts/servers/$s.sh" start | grep "^export ")"
done
field() { tr ';' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# The FTP server's outgoing folder, as the data provider would leave it.
ftp_home=$(field "$INTAKE_TEST_FTP" home)
mkdir -p "$ftp_home/outgoing"; cp "$here"/data/* "$ftp_home/outgoing/"; chmod -R a+rX "$ftp_home/outgoing"

# Buckets: the store's own and the raw bucket per data type (s3rver accepts unsigned bucket creation).
s3_url=$(field "$INTAKE_TEST_S3" url)
for b in cold-importer cold-raw-properties; do curl -sf -X PUT "$s3_url/$b" >/dev/null || true; done

export COLD_CATALOG="$INTAKE_TEST_PG" COLD_WAREHOUSE="$INTAKE_TEST_PG"
export COLD_FTP_HOST=$(field "$INTAKE_TEST_FTP" host) COLD_FTP_PORT=$(field "$INTAKE_TEST_FTP" port)
export COLD_FTP_USER=$(field "$INTAKE_TEST_FTP" user) COLD_FTP_PASSWORD=$(field "$INTAKE_TEST_FTP" password)
export COLD_FTP_CERT=$(field "$INTAKE_TEST_FTP" cert)
export COLD_S3_URL=$s3_url COLD_S3_ACCESS_KEY=$(field "$INTAKE_TEST_S3" access_key) COLD_S3_SECRET_KEY=$(field "$INTAKE_TEST_S3" secret_key)

status=0
"$repo/intake" run --once --config "$here" || status=$?
"$repo/intake" audit --all --config "$here" || status=$?
port=$INTAKE_PG_PORT
echo
psql -h 127.0.0.1 -p "$port" -U postgres -d intake -c "select count(*) as properties, count(*) filter (where source_load = (select max(source_load) from app.properties)) as from_latest_load from app.properties"
exit $status
