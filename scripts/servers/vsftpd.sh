#!/usr/bin/env bash
# Throwaway vsftpd (FTP and explicit FTPS) for tests, on 127.0.0.1:${INTAKE_FTP_PORT:-2121},
# passive ports ${INTAKE_FTP_PASV_MIN:-40000}-${INTAKE_FTP_PASV_MAX:-40100}.
#   scripts/servers/vsftpd.sh install   install vsftpd and openssl from Debian when missing (root)
#   scripts/servers/vsftpd.sh start     write a config, a self-signed certificate and a home folder under
#                                       $INTAKE_SERVERS_DIR/ftp and start vsftpd (root: it logs local users in
#                                       through PAM); prints
#                                       export INTAKE_TEST_FTP='host=..;port=..;user=..;password=..;home=..;cert=..'
#   scripts/servers/vsftpd.sh stop      stop the vsftpd this script started (by its PID file)
# TLS is optional (force_local_*_ssl=NO), so one server serves plain FTP and explicit FTPS. Tests drop
# files into 'home' (the FTP root of the user: local_root + chroot) for the server to serve.
set -euo pipefail
PORT=${INTAKE_FTP_PORT:-2121}
PASV_MIN=${INTAKE_FTP_PASV_MIN:-40000}
PASV_MAX=${INTAKE_FTP_PASV_MAX:-40100}
D=${INTAKE_SERVERS_DIR:-/tmp/intake-servers}
F=$D/ftp
FTP_USER=intakeftp
FTP_PASS=intake-ftp-test
PIDFILE=$F/vsftpd.pid

env_line() {
  echo "export INTAKE_TEST_FTP='host=127.0.0.1;port=$PORT;user=$FTP_USER;password=$FTP_PASS;home=$F/home;cert=$F/tls.crt'"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case "${1:-}" in
  install)
    if [ ! -x /usr/sbin/vsftpd ] || ! command -v openssl >/dev/null; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends vsftpd openssl >/dev/null
    fi
    ;;
  start)
    [ -x /usr/sbin/vsftpd ] || { echo "vsftpd.sh: vsftpd is not installed; run '$0 install' as root" >&2; exit 1; }
    [ "$(id -u)" = 0 ] || { echo "vsftpd.sh: start needs root (vsftpd logs local users in through PAM)" >&2; exit 1; }
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then env_line; exit 0; fi
    # Someone else's server on this port would answer our tests with the wrong user and files.
    if port_open "$PORT"; then echo "vsftpd.sh: 127.0.0.1:$PORT is already in use; set INTAKE_FTP_PORT" >&2; exit 1; fi
    mkdir -p "$D"; chmod 755 "$D"
    rm -rf "$F"; mkdir -p "$F/home"
    # One shared account for every instance. vsftpd changes into its /etc/passwd home before local_root
    # (below) moves each instance to its own folder, so that home is one fixed empty folder and instances
    # with different folders never disturb each other. The shell must be in /etc/shells (PAM pam_shells).
    mkdir -p /var/lib/intake-ftp-user
    id "$FTP_USER" >/dev/null 2>&1 || useradd -M -d /var/lib/intake-ftp-user -s /bin/bash "$FTP_USER"
    usermod -d /var/lib/intake-ftp-user "$FTP_USER" >/dev/null
    echo "$FTP_USER:$FTP_PASS" | chpasswd
    chown "$FTP_USER:$FTP_USER" "$F/home"; chmod 777 "$F/home"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=127.0.0.1" \
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout "$F/tls.key" -out "$F/tls.crt" 2>/dev/null
    chmod 644 "$F/tls.crt"; chmod 600 "$F/tls.key"
    mkdir -p /var/run/vsftpd/empty
    cat > "$F/vsftpd.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$PORT
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
local_root=$F/home
chroot_local_user=YES
allow_writeable_chroot=YES
pasv_enable=YES
pasv_min_port=$PASV_MIN
pasv_max_port=$PASV_MAX
pasv_address=127.0.0.1
secure_chroot_dir=/var/run/vsftpd/empty
pam_service_name=vsftpd
seccomp_sandbox=NO
max_per_ip=0
vsftpd_log_file=$F/vsftpd.log
xferlog_enable=YES
ssl_enable=YES
rsa_cert_file=$F/tls.crt
rsa_private_key_file=$F/tls.key
force_local_logins_ssl=NO
force_local_data_ssl=NO
require_ssl_reuse=NO
strict_ssl_read_eof=NO
ssl_ciphers=HIGH
CONF
    /usr/sbin/vsftpd "$F/vsftpd.conf" >"$F/vsftpd.out" 2>&1 &
    echo $! > "$PIDFILE"
    for _ in $(seq 100); do port_open "$PORT" && break; sleep 0.1; done
    if ! port_open "$PORT" || ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      echo "vsftpd.sh: vsftpd did not start:" >&2; cat "$F/vsftpd.out" >&2; exit 1
    fi
    env_line
    ;;
  stop)
    if [ -f "$PIDFILE" ]; then
      pid=$(cat "$PIDFILE")
      # Only our vsftpd: the PID must still be a vsftpd running our config.
      if kill -0 "$pid" 2>/dev/null && grep -qa "$F/vsftpd.conf" "/proc/$pid/cmdline"; then
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      fi
      rm -f "$PIDFILE"
    fi
    ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
