#!/usr/bin/env bash
# Benchmark of the Mail slice (HView), in two parts:
#
# 1. Throughput: MESSAGES messages (default 1000), each a short text body and a CSV attachment of KB KiB (default 100,
#    base64), sent over SMTP into a real Postfix (scripts/servers/postfix.sh, its own instance and port) whose `pipe`
#    transport runs `intake mail` (the Release CLI, ./intake) as Postfix's unprivileged pipe user. An `intake worker`
#    (WORKERS loads at once, PostgreSQL catalog, local store) carries every load through receive, route, extract and
#    archive. Timed from the first byte sent until every load is archived (the catalog polled every 0.2 s); also the
#    moment every load was registered (accepted: what Postfix waits for). The bare tool, in the same run, through the
#    same Postfix and the same pipe transport (another recipient domain): the same messages delivered to a shell command
#    that writes standard input to a file with `dd conv=fsync`, renames it and fsyncs the folder: the cost of Postfix
#    and of one durable write per message, without Intake. Both with PROCS pipe processes at once (default 4, the
#    maxproc of the master.cf line docs/mail.md gives); the worker polls every 500 ms when idle (default 2 s).
#    The sender is not the limit: the messages are made before the clock starts and read into memory, then CONNS
#    (default 4) Python smtplib connections send them at once, many messages per connection. Postfix answers 250 once a
#    message is in its queue, before the pipe runs, so the sender's own time (printed as "sender done after") is how
#    long getting the messages into Postfix took; a first row sends the same messages to a pipe that reads and discards
#    them: Postfix's own speed with this sender. When the sender is done well before the last delivery, it was waiting
#    for nobody.
#    A last row, in the same run: the same messages through the same Postfix relayed over SMTP (its smtp transport,
#    transport_maps relay.intake.test=smtp:[127.0.0.1]:<port>, PROCS connections at once) into one `intake serve
#    --smtp` (WORKERS workers) instead of a process per message: the set-up docs/mail.md recommends for volume. Its
#    CPU is the server's /proc utime+stime over the run (receive and the workers' route, extract and archive).
# 2. Memory: one message with a BIG_MB MiB CSV attachment (default 50), and one with SMALL_MB (default 5): Intake's
#    peak resident memory (/usr/bin/time's maximum RSS; /proc/<pid>/status VmHWM for a server) for `intake mail` on
#    standard input, for `intake run --once` doing route + extract + archive, and for `intake serve --smtp` receiving
#    it over SMTP and extracting and archiving it with its own workers, each in a fresh process. Flat means the big
#    message costs about what the small one does, not 45 MiB more.
#
# Correctness (the run fails otherwise), for intake mail and for the relay into intake serve --smtp alike: MESSAGES loads archived, none errored, one load per Message-ID (no duplicate),
# exactly one archive folder per message, and the SHA-256 of every archived attachment equal to the one sent; the bare
# pipe's files: one per message, each attachment's SHA-256 equal to the one sent; Postfix's queue empty, no bounce.
#
#   bench/mail/run.sh                               MESSAGES=1000 KB=100 BIG_MB=50 SMALL_MB=5 CONNS=4 PROCS=4 WORKERS=2
#   MESSAGES=50 BIG_MB=5 SMALL_MB=1 bench/mail/run.sh   a quick check that it works
#   PART=throughput | PART=memory                   only one part
# Needs root (Postfix's master runs as root; scripts/servers/postfix.sh install and postgres.sh install first).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
MESSAGES=${MESSAGES:-1000} KB=${KB:-100} BIG_MB=${BIG_MB:-50} SMALL_MB=${SMALL_MB:-5}
CONNS=${CONNS:-4} PROCS=${PROCS:-4} WORKERS=${WORKERS:-2} PART=${PART:-all}
[ "$(id -u)" = 0 ] || { echo "bench: run as root (Postfix's master runs as root)" >&2; exit 1; }
work=$(mktemp -d /tmp/intake-bench-mail-XXXX); chmod 755 "$work"   # the postgres and pipe users must reach it
export INTAKE_SERVERS_DIR=$work/servers INTAKE_PG_PORT=${INTAKE_PG_PORT:-55448} INTAKE_SMTP_PORT=${INTAKE_SMTP_PORT:-2597}
unset INTAKE_TEST_PG INTAKE_TEST_POSTFIX INTAKE_POSTFIX_PIPE
mkdir -p "$INTAKE_SERVERS_DIR"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  "$repo/scripts/servers/postfix.sh" stop >/dev/null 2>&1 || true
  "$repo/scripts/servers/postgres.sh" stop >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
for s in postgres postfix; do
  lines=$("$repo/scripts/servers/$s.sh" start) || { echo "bench: $s did not start" >&2; exit 1; }
  eval "$(grep '^export ' <<<"$lines")"
done
field() { tr ';' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
pf_config=$(field "$INTAKE_TEST_POSTFIX" config) pf_hooks=$(field "$INTAKE_TEST_POSTFIX" hooks)
pf_log=$(field "$INTAKE_TEST_POSTFIX" log) pf_user=$(field "$INTAKE_TEST_POSTFIX" user)
# PROCS pipe processes at once, for the intake and the bare domain alike. With one recipient per delivery each
# recipient address is a destination of its own for Postfix, hence the destination limit too.
postconf -c "$pf_config" -e "intakepipe_destination_concurrency_limit = $PROCS" "initial_destination_concurrency = $PROCS" >/dev/null
postconf -c "$pf_config" -F -e "intakepipe/unix/process_limit=$PROCS" >/dev/null
postfix -c "$pf_config" reload >/dev/null 2>&1

pg="Host=127.0.0.1;Port=$INTAKE_PG_PORT;Username=postgres"
psql_() { psql -qAtX -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$INTAKE_PG_PORT" -U postgres "$@"; }
"$repo/intake" --help >/dev/null   # build outside the measurement
dll=$repo/artifacts/intake/intake.dll
now() { date +%s.%N; }

# A project: PostgreSQL catalog (database $1), local store, one mail pipeline whose route takes every bench message
# sent to reports@$2 (default bench.intake.test; group = the message's name from its subject). Owned by the pipe user, who writes its store; root reads it all.
project() {
  local dir=$work/$1 domain=${2:-bench.intake.test}
  psql_ -d postgres -c "create database $1"
  mkdir -p "$dir/pipelines" "$dir/.intake/store"
  cat >"$dir/intake.yaml" <<YAML
catalog: { kind: postgres, connection: "$pg;Database=$1" }
stores: { local: { kind: local, root: .intake/store } }
YAML
  cat >"$dir/pipelines/mail.yaml" <<YAML
name: mail
customer: bench
source: { kind: mail, max_message_size: $((BIG_MB * 2 + 16))MiB }
steps: [receive, route, extract, archive]
routes:
  - name: report
    recipient: "reports@$domain"
    senders: ["*@sender.example"]
    subject: "^Bench report (?<grid>m[0-9]+)$"
    category: bench
    type: report
    group: "{grid}"
YAML
  (cd "$dir" && "$repo/intake" validate >/dev/null && "$repo/intake" loads >/dev/null)   # migrates the catalog
  chown -R "$pf_user" "$dir"
}
count() { psql_ -d "$1" -c "select count(*) from intake_loads where ${2:-true}"; }

# Waits while $1 (a command printing a number) grows towards $2; fails after 120 s without progress.
wait_for() {
  local got last=-1 still=$(now)
  while got=$($1) && [ "$got" -lt "$2" ]; do
    if [ "$got" != "$last" ]; then last=$got still=$(now); fi
    if python3 -c "import sys; sys.exit(0 if $(now) - $still > 120 else 1)"; then
      echo "bench: stuck at $got of $2 ($1) for 120 s; Postfix queue:" >&2; postqueue -c "$pf_config" -p | tail -5 >&2; return 1
    fi
    sleep 0.2
  done
}

# Sends every message to RCPT and waits until $2 (a command printing a number) reaches MESSAGES;
# prints "seconds-to-done seconds-the-sender-took" (and with $3, the seconds until $3 reached MESSAGES first).
deliver() {
  local rcpt=$1 t0 t1 tm=0 sent
  t0=$(now)
  read -r sent _ < <(python3 "$here/mail.py" send 127.0.0.1 "$INTAKE_SMTP_PORT" "$CONNS" "$rcpt" "$work/msgs")
  if [ -n "${3:-}" ]; then wait_for "$3" "$MESSAGES"; tm=$(python3 -c "print($(now) - $t0)"); fi
  wait_for "$2" "$MESSAGES"; t1=$(now)
  python3 -c "print($t1 - $t0, $sent, $tm)"
}

throughput() {
  echo "generating $MESSAGES messages with a $KB KiB CSV attachment..." >&2
  python3 "$here/mail.py" gen "$work/msgs" "$MESSAGES" "$KB"
  local size; size=$(du -sb --exclude=manifest.tsv "$work/msgs" | cut -f1)

  # 1. Postfix alone: a pipe that reads the message and keeps nothing (also warms Postfix up).
  : >"$work/discarded"; chown "$pf_user" "$work/discarded"
  printf '#!/bin/sh\ncat >/dev/null && echo >>"%s"\n' "$work/discarded" >"$pf_hooks/discard.intake.test"
  # 2. Bare: standard input to a file, fsynced, renamed, the folder fsynced.
  local bare=$work/bare; mkdir -p "$bare"; chown "$pf_user" "$bare"
  printf '#!/bin/sh\nf=$(mktemp "%s/.in-XXXXXXXX") && dd of="$f" bs=1M conv=fsync status=none && mv "$f" "$f.eml" && sync "%s"\n' "$bare" "$bare" >"$pf_hooks/bare.intake.test"
  # 3. Intake: Postfix's pipe runs `intake mail`; one worker process carries the loads on as they come.
  project thru
  # /usr/bin/time (one line per run: wall, user and system seconds, peak RSS in KiB) says where the time goes.
  : >"$work/mail-times"; chown "$pf_user" "$work/mail-times"
  printf '#!/bin/sh\nexport HOME=/tmp DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1\nexec /usr/bin/time -a -o "%s" -f "%%e %%U %%S %%M" dotnet "%s" mail --config "%s" --sender "$1" --recipient "$2"\n' "$work/mail-times" "$dll" "$work/thru" >"$pf_hooks/bench.intake.test"
  chmod 755 "$pf_hooks/discard.intake.test" "$pf_hooks/bare.intake.test" "$pf_hooks/bench.intake.test"

  discarded() { wc -l <"$work/discarded"; }
  bare_files() { find "$bare" -name '*.eml' | wc -l; }
  registered() { count thru; }
  archived() { count thru "status = 'archived'"; }
  local d b i
  echo "sending through Postfix to a pipe that discards..." >&2
  d=$(deliver reports@discard.intake.test discarded)
  echo "sending through Postfix to the bare pipe (dd conv=fsync)..." >&2
  b=$(deliver reports@bare.intake.test bare_files)
  (cd "$work/thru" && exec dotnet "$dll" worker --workers "$WORKERS" --poll 500ms) >"$work/worker.log" 2>&1 &
  pids+=($!)
  sleep 3   # the worker's start (configuration, catalog) outside the measurement
  echo "sending through Postfix to intake mail..." >&2
  i=$(deliver reports@bench.intake.test archived registered)
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'

  # 4. Postfix relaying over SMTP into one intake serve --smtp (no process per message).
  project relay relay.intake.test
  local smtp=$((30000 + RANDOM % 20000)) http=$((30000 + RANDOM % 20000)) spid
  (cd "$work/relay" && exec dotnet "$dll" serve --urls "http://127.0.0.1:$http" --smtp "127.0.0.1:$smtp" --workers "$WORKERS" --poll 500ms) >"$work/relay.log" 2>&1 &
  spid=$!; pids+=("$spid")
  for _ in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$smtp") 2>/dev/null && break; sleep 0.2; done
  postconf -c "$pf_config" -e "transport_maps = inline:{ relay.intake.test=smtp:[127.0.0.1]:$smtp, intake.test=intakepipe:, .intake.test=intakepipe: }" \
    "smtp_destination_concurrency_limit = $PROCS" >/dev/null
  postfix -c "$pf_config" reload >/dev/null 2>&1
  sleep 3   # the server's start and Postfix's reload outside the measurement
  relay_registered() { count relay; }
  relay_archived() { count relay "status = 'archived'"; }
  cpu_of() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
  local r cpu0 cpu1
  cpu0=$(cpu_of "$spid")
  echo "sending through Postfix relaying over SMTP to intake serve --smtp..." >&2
  r=$(deliver reports@relay.intake.test relay_archived relay_registered)
  cpu1=$(cpu_of "$spid")
  kill "$spid"; wait "$spid" 2>/dev/null || true; unset 'pids[-1]'
  local rcpu; rcpu=$(python3 -c "print(($cpu1 - $cpu0) / $(getconf CLK_TCK))")

  # Correctness
  local bad=0 n errored ids
  for db in relay; do
    n=$(count $db) errored=$(count $db "status <> 'archived'")
    ids=$(psql_ -d $db -c "select count(distinct source_key) from intake_loads")
    { [ "$n" = "$MESSAGES" ] && [ "$ids" = "$MESSAGES" ]; } || { echo "bench: relay: $n loads for $ids Message-IDs, $MESSAGES messages sent" >&2; bad=1; }
    [ "$errored" = 0 ] || { echo "bench: relay: $errored loads not archived:" >&2; psql_ -d $db -c "select id, status, error_message from intake_loads where status <> 'archived' limit 5" >&2; bad=1; }
  done
  local rchecked
  rchecked=$(python3 "$here/mail.py" check-archive "$work/relay/.intake/store/archive" "$work/msgs") || bad=1
  n=$(count thru) errored=$(count thru "status <> 'archived'")
  ids=$(psql_ -d thru -c "select count(distinct source_key) from intake_loads")
  { [ "$n" = "$MESSAGES" ] && [ "$ids" = "$MESSAGES" ]; } || { echo "bench: $n loads for $ids Message-IDs, $MESSAGES messages sent" >&2; bad=1; }
  [ "$errored" = 0 ] || { echo "bench: $errored loads not archived:" >&2; psql_ -d thru -c "select id, status, error_message from intake_loads where status <> 'archived' limit 5" >&2; bad=1; }
  local checked bchecked
  checked=$(python3 "$here/mail.py" check-archive "$work/thru/.intake/store/archive" "$work/msgs") || bad=1
  bchecked=$(python3 "$here/mail.py" check-bare "$bare" "$work/msgs") || bad=1
  [ "$(discarded)" = "$MESSAGES" ] || { echo "bench: the discarding pipe ran $(discarded) times for $MESSAGES messages" >&2; bad=1; }
  postqueue -c "$pf_config" -p | grep -q 'Mail queue is empty' || { echo "bench: Postfix's queue is not empty" >&2; bad=1; }
  local bounced deferred
  bounced=$(grep -c 'status=bounced' "$pf_log" || true) deferred=$(grep -c 'status=deferred' "$pf_log" || true)
  [ "$bounced" = 0 ] || { echo "bench: $bounced deliveries bounced" >&2; bad=1; }
  [ "$bad" = 0 ] || exit 1
  rm -f "$pf_hooks/discard.intake.test" "$pf_hooks/bare.intake.test" "$pf_hooks/bench.intake.test"

  python3 - "$MESSAGES" "$KB" "$size" $d $b $i "$checked" "$bchecked" "$deferred" "$PROCS" "$CONNS" "$WORKERS" "$work/mail-times" "$(nproc)" $r "$rcpu" "$rchecked" <<'PY'
import sys
n, kb, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
d, dsend, _, b, bsend, _, arch, isend, acc = map(float, sys.argv[4:13])
checked, bchecked, deferred, procs, conns, workers = sys.argv[13:19]
rarch, rsend, racc, rcpu = map(float, sys.argv[21:25])
rchecked = sys.argv[25]
print(f"Throughput: {n:,} messages, a {kb} KiB CSV attachment each ({size / n / 1024:.0f} KiB a message, {size / 1e6:.0f} MB in all); "
      f"Postfix pipe {procs} at once, sender {conns} SMTP connections, intake worker --workers {workers}")
print(f"  Postfix, a pipe that discards      {d:7.2f} s  {n / d:7.1f} messages/s   (sender done after {dsend:.2f} s)")
print(f"  bare pipe, dd conv=fsync           {b:7.2f} s  {n / b:7.1f} messages/s   (sender done after {bsend:.2f} s)")
print(f"  intake mail, all registered        {acc:7.2f} s  {n / acc:7.1f} messages/s   ratio {b / acc:.2f}x bare   (sender done after {isend:.2f} s)")
print(f"  intake, all archived               {arch:7.2f} s  {n / arch:7.1f} messages/s   ratio {b / arch:.2f}x bare   (receive, route, extract, archive)")
runs = [list(map(float, l.split())) for l in open(sys.argv[19]) if len(l.split()) == 4 and l[0].isdigit()]
if runs:
    cpu = [u + s_ for _, u, s_, _ in runs]
    print(f"  each intake mail (Postfix's pipe): {len(runs)} runs, {sum(r[0] for r in runs) / len(runs):.2f} s wall and {sum(cpu) / len(cpu):.2f} s CPU on average, "
          f"peak RSS {max(r[3] for r in runs) / 1024:.0f} MB; {sys.argv[20]} cores")
print(f"  Postfix relaying over SMTP into intake serve --smtp: all registered {racc:7.2f} s  {n / racc:7.1f} messages/s   ratio {b / racc:.2f}x bare   (sender done after {rsend:.2f} s)")
print(f"  intake serve --smtp, all archived  {rarch:7.2f} s  {n / rarch:7.1f} messages/s   ratio {b / rarch:.2f}x bare   server CPU {rcpu / n:.3f} s a message (receive, route, extract, archive)")
print(f"  relay checked: {rchecked} loads archived, none errored, one per Message-ID, every attachment's SHA-256 as sent")
print(f"  checked: {checked} loads archived, none errored, one per Message-ID, one archive folder each, every attachment's SHA-256 as sent; "
      f"bare: {bchecked} files, SHA-256 as sent; Postfix: queue empty, no bounce, {deferred} deferrals")
PY
}

memory() {
  local mb rss_mail rss_run rss_smtp
  declare -A rss
  for mb in "$SMALL_MB" "$BIG_MB"; do
    echo "memory: a message with a $mb MiB attachment..." >&2
    mkdir -p "$work/m$mb"
    python3 -c "import sys; sys.path.insert(0, '$here'); import mail; name, raw, sha = mail.message($mb, $mb * 1024); open('$work/m$mb/big.eml', 'wb').write(raw); print(sha)" >"$work/m$mb/sha"
    # intake mail on standard input, then intake run --once (route, extract, archive), each its own process.
    project "mem${mb}a"
    (cd "$work/mem${mb}a" && /usr/bin/time -f %M -o "$work/m$mb/rss-mail" "$repo/intake" mail --sender nas1@sender.example \
      --recipient reports@bench.intake.test <"$work/m$mb/big.eml" >/dev/null 2>"$work/m$mb/mail.log") || { cat "$work/m$mb/mail.log" >&2; exit 1; }
    (cd "$work/mem${mb}a" && /usr/bin/time -f %M -o "$work/m$mb/rss-run" "$repo/intake" run --once >/dev/null 2>"$work/m$mb/run.log") || { tail "$work/m$mb/run.log" >&2; exit 1; }
    [ "$(count "mem${mb}a" "status = 'archived'")" = 1 ] || { echo "bench: the $mb MiB message was not archived" >&2; exit 1; }
    # intake serve --smtp: received over SMTP, extracted and archived by the server's own workers.
    project "mem${mb}b"
    local port=$((30000 + RANDOM % 20000)) smtp=$((30000 + RANDOM % 20000)) pid
    (cd "$work/mem${mb}b" && exec dotnet "$dll" serve --urls "http://127.0.0.1:$port" --smtp "127.0.0.1:$smtp" --poll 500ms) >"$work/m$mb/serve.log" 2>&1 &
    pid=$!; pids+=("$pid")
    for _ in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$smtp") 2>/dev/null && break; sleep 0.2; done
    python3 - "$smtp" "$work/m$mb/big.eml" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=600)
s.sendmail("nas1@sender.example", ["reports@bench.intake.test"], open(sys.argv[2], "rb").read()); s.quit()
PY
    archived_one() { count "mem${mb}b" "status = 'archived'"; }
    wait_for archived_one 1
    awk '/VmHWM/ { print $2 }' "/proc/$pid/status" >"$work/m$mb/rss-smtp"
    kill "$pid"; wait "$pid" 2>/dev/null || true; unset 'pids[-1]'
    for d in a b; do
      local got; got=$(find "$work/mem${mb}$d/.intake/store/archive" -name '*.csv' -exec sha256sum {} + | cut -d' ' -f1)
      [ "$got" = "$(cat "$work/m$mb/sha")" ] || { echo "bench: the archived $mb MiB attachment ($d) is not the one sent" >&2; exit 1; }
    done
    rss[$mb]="$(cat "$work/m$mb/rss-mail") $(cat "$work/m$mb/rss-run") $(cat "$work/m$mb/rss-smtp") $(stat -c %s "$work/m$mb/big.eml")"
  done
  python3 - "$SMALL_MB" "$BIG_MB" ${rss[$SMALL_MB]} ${rss[$BIG_MB]} <<'PY'
import sys
small, big = int(sys.argv[1]), int(sys.argv[2])
s, b = list(map(int, sys.argv[3:7])), list(map(int, sys.argv[7:11]))
print(f"Memory: peak RSS with a {small} MiB attachment ({s[3] / 1e6:.1f} MB message) and a {big} MiB one ({b[3] / 1e6:.1f} MB message); attachments both archived as sent")
grow = (b[3] - s[3]) / 2**20
for i, what in enumerate(["intake mail (stdin, Postfix's way)", "intake run --once (route, extract, archive)", "intake serve --smtp (receive, extract, archive)"]):
    d = (b[i] - s[i]) / 1024
    verdict = "flat" if d < 0.25 * grow else "GROWS with the message"
    print(f"  {what:48} {s[i] / 1024:6.0f} MB  {b[i] / 1024:6.0f} MB   {d:+6.0f} MB for {grow:+.0f} MB more message: {verdict}")
PY
}

[ "$PART" = memory ] || throughput
[ "$PART" = throughput ] || memory
