#!/usr/bin/env bash
# The test command: installs what the tests need (the servers in scripts/servers/, from Debian or npm,
# when missing), starts them on 127.0.0.1, runs every test project, stops what it started, and prints the totals as
# "N passed, N failed" on the last line. Exit status: 0 only when every test passed.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
export INTAKE_SERVERS_DIR=${INTAKE_SERVERS_DIR:-/tmp/intake-servers-$$}
mkdir -p "$INTAKE_SERVERS_DIR"; chmod 755 "$INTAKE_SERVERS_DIR"
# Ports of our own, so a developer's servers on the default ports are left alone.
export INTAKE_PG_PORT=${INTAKE_PG_PORT:-55433}
export INTAKE_FTP_PORT=${INTAKE_FTP_PORT:-2122}
export INTAKE_FTP_PASV_MIN=${INTAKE_FTP_PASV_MIN:-40110} INTAKE_FTP_PASV_MAX=${INTAKE_FTP_PASV_MAX:-40190}
export INTAKE_S3_PORT=${INTAKE_S3_PORT:-4571} INTAKE_S3_TLS_PORT=${INTAKE_S3_TLS_PORT:-4572}
export INTAKE_SFTP_PORT=${INTAKE_SFTP_PORT:-2223}
export INTAKE_SMTP_PORT=${INTAKE_SMTP_PORT:-2526}
started=()

cleanup() {
  for ((i=${#started[@]}-1; i>=0; i--)); do "${started[$i]}" stop || true; done
  rm -rf "$INTAKE_SERVERS_DIR"
}
trap cleanup EXIT

# Every test server has a script in scripts/servers/ with install (as root, from Debian or npm, only
# when missing), start (prints 'export VAR=...' lines that tell the tests where it listens) and stop.
for server in scripts/servers/*.sh; do
  if [ "$(id -u)" = 0 ]; then
    "$server" install || { echo "test.sh: $server install failed" >&2; exit 1; }
  fi
  if env_lines=$("$server" start); then
    started+=("$server")
    eval "$(grep "^export " <<<"$env_lines")"   # only the exports: a tool that chats on stdout must not run as a command
  else
    echo "test.sh: $server did not start; its tests fail in CI and are skipped elsewhere" >&2
  fi
done

log=$(mktemp)
if ! dotnet build Intake.sln -c Debug --nologo -v quiet -clp:ErrorsOnly > "$log" 2>&1; then
  cat "$log"; rm -f "$log"
  echo "0 passed, 1 failed"
  exit 1
fi
# The default console logger prints one summary line per test project
# ("Passed!  - Failed: 0, Passed: 20, Skipped: 0, ...") and every failing test with its message.
dotnet test Intake.sln --no-build -c Debug --nologo 2>&1 | tee "$log" | grep -vE "^\s*(Passed|Skipped) " || true
summary() { grep -E "(Passed|Failed)! +- " "$log" | grep -oE "$1: +[0-9]+" | awk '{s+=$2} END {print s+0}'; }
passed=$(summary Passed)
failed=$(summary Failed)
skipped=$(summary Skipped)
summaries=$(grep -cE "(Passed|Failed)! +- " "$log")
projects=$(ls tests/*/*.csproj | wc -l)
rm -f "$log"
if [ "$summaries" -lt "$projects" ]; then
  echo "test.sh: only $summaries of $projects test projects reported results" >&2
  failed=$((failed + projects - summaries))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
