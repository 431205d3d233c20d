#!/usr/bin/env bash
# Throwaway OpenSSH server for the SFTP source tests, on 127.0.0.1:${INTAKE_SFTP_PORT:-2222}.
#   scripts/servers/sshd.sh install   install openssh-server and openssh-client from Debian when missing (root)
#   scripts/servers/sshd.sh start     start sshd under $INTAKE_SERVERS_DIR/sftp with its own host key and client
#                                     keys (ed25519, RSA, ECDSA, and an ed25519 key with a passphrase), and an
#                                     RSA host key besides the ed25519 one;
#                                     prints 'export INTAKE_TEST_SFTP=...'
#   scripts/servers/sshd.sh stop      stop the sshd this script started (by its PID), never another one
# As root, logins are for a dedicated user (${INTAKE_SFTP_USER:-intakesftp}) whose shell is nologin, with the sftp
# subsystem served in-process (internal-sftp): the setup of a locked-down SFTP-only account, so the client can
# never rely on a shell. That user also gets a random password: port PORT accepts a key or the password
# (the "password" method), port ${INTAKE_SFTP_KBD_PORT:-PORT+1} only keyboard-interactive (PAM asks for the
# password), so each method is tested on its own. As any other user, sshd runs as that user and accepts only
# that user with a key (an unprivileged sshd can log in nobody else and check no password); the tests then
# work under an absolute 'home' folder, and the password tests are skipped.
set -euo pipefail
PORT=${INTAKE_SFTP_PORT:-2222}
KBD_PORT=${INTAKE_SFTP_KBD_PORT:-$((PORT + 1))}
D=${INTAKE_SERVERS_DIR:-/tmp/intake-servers}
S=$D/sftp
SFTP_USER=${INTAKE_SFTP_USER:-intakesftp}
SSHD=/usr/sbin/sshd

print_env() {
  local user=$1 home=$2 auth=""
  if [ -f "$S/password" ]; then auth="password=$(cat "$S/password");kbd_port=$KBD_PORT;"; fi
  echo "export INTAKE_TEST_SFTP='host=127.0.0.1;port=$PORT;user=$user;key=$S/client_ed25519;home=$home;hostkey=$S/host_ed25519.pub;rsa_hostkey=$S/host_rsa.pub;rsa_key=$S/client_rsa;ecdsa_key=$S/client_ecdsa;passphrase_key=$S/client_ed25519_pass;passphrase=$(cat "$S/passphrase");${auth%;}'"
}

# A random secret of letters and digits (it travels in a ';'-separated variable): 18 bytes are 24 base64 characters, no padding.
secret() { head -c 18 /dev/urandom | base64 | tr '+/' 'xy'; }

running() { [ -f "$S/sshd.pid" ] && kill -0 "$(cat "$S/sshd.pid")" 2>/dev/null; }

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    running || return 1
    sleep 0.1
  done
  return 1
}

case "${1:-}" in
  install)
    if [ ! -x "$SSHD" ] || ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null
    fi
    ;;
  start)
    [ -x "$SSHD" ] || { echo "sshd.sh: OpenSSH server is not installed; run '$0 install' as root" >&2; exit 1; }
    if [ "$(id -u)" = 0 ]; then user=$SFTP_USER; home=$S/home; else user=$(id -un); home=$S/home; fi
    if running; then print_env "$user" "$home"; exit 0; fi
    rm -rf "$S"; mkdir -p "$S/home"; chmod 755 "$D" "$S"
    if [ "$(id -u)" = 0 ]; then
      id "$SFTP_USER" >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin -d "$home" "$SFTP_USER"
      usermod -d "$home" -s /usr/sbin/nologin "$SFTP_USER" >/dev/null 2>&1 || true
      usermod -p "*" "$SFTP_USER" >/dev/null 2>&1   # useradd leaves the account locked ('!'); sshd refuses locked accounts (the password is set below)
      chown "$SFTP_USER:" "$home"
      mkdir -p /run/sshd            # sshd's privilege separation directory
    fi
    ssh-keygen -q -t ed25519 -N '' -C "intake-test-host" -f "$S/host_ed25519"
    # A second host key: clients that pin the RSA one must find it although ed25519 is offered first.
    ssh-keygen -q -t rsa -b 3072 -N '' -C "intake-test-host-rsa" -f "$S/host_rsa"
    ssh-keygen -q -t ed25519 -N '' -C "intake-test-client" -f "$S/client_ed25519"
    ssh-keygen -q -t rsa -b 3072 -N '' -C "intake-test-client-rsa" -f "$S/client_rsa"
    ssh-keygen -q -t ecdsa -b 256 -N '' -C "intake-test-client-ecdsa" -f "$S/client_ecdsa"
    secret > "$S/passphrase"
    ssh-keygen -q -t ed25519 -N "$(cat "$S/passphrase")" -C "intake-test-client-passphrase" -f "$S/client_ed25519_pass"
    cat "$S"/client_*.pub > "$S/authorized_keys"
    chmod 644 "$S/authorized_keys"
    password_auth=no; use_pam=no
    if [ "$(id -u)" = 0 ]; then
      secret > "$S/password"
      echo "$SFTP_USER:$(cat "$S/password")" | chpasswd
      # keyboard-interactive on Linux is PAM's conversation; PAM also checks the password then.
      password_auth=yes; use_pam=yes
    fi
    chmod 600 "$S"/passphrase "$S"/password 2>/dev/null || true
    cat > "$S/sshd_config" <<CONF
Port $PORT
Port $KBD_PORT
ListenAddress 127.0.0.1
HostKey $S/host_ed25519
HostKey $S/host_rsa
PidFile $S/sshd.daemon.pid
AuthorizedKeysFile $S/authorized_keys
# The key files live under a world-readable test folder, not in a home directory.
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication $password_auth
KbdInteractiveAuthentication $password_auth
UsePAM $use_pam
PermitRootLogin no
AllowUsers $user
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
# No shell is ever needed: the sftp server runs inside sshd.
Subsystem sftp internal-sftp
ForceCommand internal-sftp
LogLevel INFO
CONF
    if [ "$password_auth" = yes ]; then
      cat >> "$S/sshd_config" <<CONF
# One method per port, so a test proves the method it means: a key or the password here ...
Match LocalPort $PORT
  AuthenticationMethods publickey password
# ... and only keyboard-interactive (a PAM prompt answered with the password) here.
Match LocalPort $KBD_PORT
  AuthenticationMethods keyboard-interactive
CONF
    fi
    "$SSHD" -t -f "$S/sshd_config"
    "$SSHD" -D -e -f "$S/sshd_config" >"$S/sshd.log" 2>&1 &
    echo $! > "$S/sshd.pid"
    wait_port || { echo "sshd.sh: sshd did not start on 127.0.0.1:$PORT; see $S/sshd.log:" >&2; cat "$S/sshd.log" >&2; exit 1; }
    print_env "$user" "$home"
    ;;
  stop)
    if running; then
      pid=$(cat "$S/sshd.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$S/sshd.pid" "$S/sshd.daemon.pid"
    ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
