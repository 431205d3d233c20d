#!/usr/bin/env bash
# Throwaway Postfix (Debian's) for the mail tests: SMTP on 127.0.0.1:${INTAKE_SMTP_PORT:-2525}; every recipient of
# the test domain intake.test and its subdomains (x@intake.test, x@retry.intake.test) goes to a 'pipe' transport.
#   scripts/servers/postfix.sh install   install postfix and swaks from Debian when missing (root; debconf is told
#                                        "No configuration", so the package writes no /etc/postfix/main.cf)
#   scripts/servers/postfix.sh start     a Postfix instance of its own (postfix -c $INTAKE_SERVERS_DIR/postfix/etc) with
#                                        its queue, data and log under $INTAKE_SERVERS_DIR/postfix (root); prints
#                                        export INTAKE_TEST_POSTFIX='host=..;port=..;config=..;log=..;hooks=..;domain=..;user=..'
#   scripts/servers/postfix.sh status    whether it runs, and its queue
#   scripts/servers/postfix.sh stop      stop the Postfix this script started (its master process, by PID)
# The pipe runs as the unprivileged user 'intakemail' (Postfix refuses root) with the envelope as arguments:
#   <command> ${sender} ${recipient}     (message on standard input; exit 75 = keep the mail and retry later)
# The command for a recipient domain D is the executable file hooks/D when there is one (each test takes a domain
# of its own, e.g. hooks/retry.intake.test), else the shell command $INTAKE_POSTFIX_PIPE as given at start, which
# sees the envelope as $sender and $recipient (e.g. 'intake mail --config /srv/intake --sender "$sender"
# --recipient "$recipient"'), else none: the mail is deferred (exit 75) and stays queued until a command appears.
# Retries are fast for tests: a deferred message is tried again after 2 to 4 seconds.
set -euo pipefail
PORT=${INTAKE_SMTP_PORT:-2525}
D=${INTAKE_SERVERS_DIR:-/tmp/intake-servers}
P=$D/postfix
DOMAIN=intake.test
PIPE_USER=intakemail
LOG=$P/log/postfix.log

env_line() {
  echo "export INTAKE_TEST_POSTFIX='host=127.0.0.1;port=$PORT;config=$P/etc;log=$LOG;hooks=$P/hooks;domain=$DOMAIN;user=$PIPE_USER'"
}
master_pid() { [ -f "$P/queue/pid/master.pid" ] && tr -d ' \n' < "$P/queue/pid/master.pid"; }
running() { local pid; pid=$(master_pid 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case "${1:-}" in
  install)
    if [ ! -x /usr/sbin/postfix ] || ! command -v swaks >/dev/null; then
      export DEBIAN_FRONTEND=noninteractive
      echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends postfix swaks >/dev/null
    fi
    ;;
  start)
    [ -x /usr/sbin/postfix ] || { echo "postfix.sh: Postfix is not installed; run '$0 install' as root" >&2; exit 1; }
    [ "$(id -u)" = 0 ] || { echo "postfix.sh: start needs root (Postfix's master runs as root and drops to its users)" >&2; exit 1; }
    if running; then env_line; exit 0; fi
    if port_open "$PORT"; then echo "postfix.sh: 127.0.0.1:$PORT is already in use; set INTAKE_SMTP_PORT" >&2; exit 1; fi
    mkdir -p "$D"; chmod 755 "$D"
    rm -rf "$P"; mkdir -p "$P/etc" "$P/queue" "$P/data" "$P/log" "$P/hooks"
    chmod 755 "$P" "$P/etc" "$P/hooks"
    id "$PIPE_USER" >/dev/null 2>&1 || useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$PIPE_USER"
    chown postfix: "$P/data"
    # The pipe's entry point: finds the command for the recipient's domain. It runs as $PIPE_USER, so it and the
    # hooks folder must be readable by that user (root owns them: the user cannot change what runs).
    printf '%s\n' "${INTAKE_POSTFIX_PIPE:-}" > "$P/pipe-default"; chmod 644 "$P/pipe-default"
    cat > "$P/pipe.sh" <<SH
#!/bin/sh
# \$1 = envelope sender, \$2 = recipient; the message on standard input. Written by scripts/servers/postfix.sh.
sender=\$1 recipient=\$2; export sender recipient
hook="$P/hooks/\${recipient##*@}"
if [ -x "\$hook" ]; then exec "\$hook" "\$sender" "\$recipient"; fi
command=\$(cat "$P/pipe-default")
if [ -n "\$command" ]; then exec /bin/sh -c "\$command"; fi
echo "no pipe command for \${recipient##*@}: add $P/hooks/\${recipient##*@} or start with INTAKE_POSTFIX_PIPE" >&2
exit 75
SH
    chmod 755 "$P/pipe.sh"
    cat > "$P/etc/main.cf" <<CONF
compatibility_level = 3.6
myhostname = intake-test.localdomain
mydomain = localdomain
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
relay_domains = $DOMAIN, .$DOMAIN
transport_maps = inline:{ $DOMAIN=intakepipe:, .$DOMAIN=intakepipe: }
# One recipient per pipe run, so \${recipient} is one address.
intakepipe_destination_recipient_limit = 1
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
local_transport = error:local delivery is disabled on this test server
alias_maps =
alias_database =
smtputf8_enable = no
biff = no
queue_directory = $P/queue
data_directory = $P/data
# Postfix writes its own log (no syslog here); maillog_file_prefixes names where it may (default /var and /dev/stdout).
maillog_file_prefixes = $P/log
maillog_file = $LOG
message_size_limit = 52428800
# Tests wait for retries: a deferred message (pipe exit 75, a killed pipe) is tried again within seconds.
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
# A deferral must not suspend the whole destination (the default marks it dead after one failed delivery).
default_destination_concurrency_failed_cohort_limit = 100
CONF
    # Debian's master.cf with nothing chrooted (the chroot would need copies of /etc files inside the queue) and
    # smtpd on our address and port; then the pipe transport. 'user=' is required and must not be root.
    sed -E -e 's/^smtp(\s+)inet(\s+)n(\s+)-(\s+)y(\s+)/127.0.0.1:'"$PORT"' inet n - n /' \
        -e '/^[a-z]/ s/^(\S+\s+\S+\s+\S+\s+\S+\s+)y(\s)/\1n\2/' \
        -e '/^(#?)submission|^(#?)smtps|^(#?)628/ d' /etc/postfix/master.cf > "$P/etc/master.cf"
    printf 'intakepipe unix - n n - - pipe\n  flags=Rq user=%s argv=%s ${sender} ${recipient}\n' "$PIPE_USER" "$P/pipe.sh" >> "$P/etc/master.cf"
    chmod 644 "$P/etc/main.cf" "$P/etc/master.cf"
    # Creates the queue folders with Postfix's owners and modes, then checks the whole configuration.
    postfix -c "$P/etc" set-permissions >/dev/null 2>&1 || true
    postfix -c "$P/etc" check
    postfix -c "$P/etc" start >/dev/null 2>"$P/start.err" || { echo "postfix.sh: postfix did not start:" >&2; cat "$P/start.err" "$LOG" >&2 2>/dev/null; exit 1; }
    for _ in $(seq 100); do port_open "$PORT" && break; sleep 0.1; done
    if ! port_open "$PORT" || ! running; then
      echo "postfix.sh: Postfix did not start on 127.0.0.1:$PORT; its log:" >&2; cat "$LOG" >&2 2>/dev/null; exit 1
    fi
    env_line
    ;;
  status)
    if running; then
      echo "postfix.sh: running (master PID $(master_pid)) on 127.0.0.1:$PORT, config $P/etc, log $LOG"
      postqueue -c "$P/etc" -p || true
    else
      echo "postfix.sh: not running"; exit 3
    fi
    ;;
  stop)
    if running; then
      pid=$(master_pid)
      # Only our master: Postfix's master with our configuration folder in its environment.
      if grep -qa "MAIL_CONFIG=$P/etc" "/proc/$pid/environ" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    ;;
  *) echo "usage: $0 install|start|status|stop" >&2; exit 2 ;;
esac
