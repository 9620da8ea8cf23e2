#!/usr/bin/env bash
# The lab's remote host: a private libvirtd run as another user, reachable only over ssh
# through a private sshd on 127.0.0.1, so that qemu+libssh2:// stands for a libvirt host
# on another machine (no shared files, no shell for the client but the one libvirt runs).
#
# Usage:
#   tests/lab/remote.sh start    DIR   start sshd and the daemon (idempotent); prints `uri`
#   tests/lab/remote.sh uri      DIR   prints the URI naming its key and known_hosts files
#   tests/lab/remote.sh env      DIR   prints HOME=... and XDG_CONFIG_HOME=... lines under
#                                      which `plain-uri` works (libvirt's default key and
#                                      known_hosts places), one per line
#   tests/lab/remote.sh plain-uri DIR  prints the URI without files: what a record may carry
#   tests/lab/remote.sh domtype  DIR   "kvm" or "qemu" (TCG), as libvirtd.sh says
#   tests/lab/remote.sh sessions DIR   how many ssh connections are open
#   tests/lab/remote.sh cut      DIR   kills every process of those connections (sshd's, the
#                                      remote nc): each drops at once, as in a network
#                                      failure; prints how many it cut
#   tests/lab/remote.sh restart  DIR   restarts the daemon only (libvirtd.sh restart)
#   tests/lab/remote.sh stop     DIR   stops sshd, the daemon and every QEMU (idempotent)
#
# The URIs:
#   uri        qemu+libssh2://domkit-remote@127.0.0.1:PORT/session?proxy=netcat
#                &socket=DIR/d/run/libvirt/libvirt-sock&sshauth=privkey
#                &keyfile=DIR/client/.ssh/id_ed25519
#                &known_hosts=DIR/client/.config/libvirt/known_hosts
#   plain-uri  the same without keyfile= and known_hosts=: libvirt's libssh2 transport then
#              takes the key from $HOME/.ssh (id_ed25519 first) and verifies the host
#              against $XDG_CONFIG_HOME/libvirt/known_hosts, which `env` points into
#              DIR/client. Records may carry this one (lib/src/libvirt/uri.rs refuses
#              keyfile= and known_hosts= in records).
# Why libssh2: it verifies the host key against a known_hosts file the URI or the
# environment names. The `ssh` transport runs the ssh binary, which reads only the invoking
# user's ~/.ssh (from the password database, not $HOME), so it could verify the lab's key
# only by editing root's ~/.ssh/known_hosts, or not at all (no_verify=1). The `libssh`
# transport verifies as well, but with libvirt 9.0 and libssh 0.10 a reply of more than a
# few KiB stalls until the connection's next keepalive: `virsh domcapabilities` (9 KB)
# took 5.4 s over it and 0.32 s over libssh2, the same host and key.
# Why proxy=netcat: with proxy=auto the remote side runs virt-ssh-helper where installed,
# which ignores socket= and connects to (or spawns) the user's default session daemon; nc
# -U SOCKET reaches exactly this lab's daemon.
#
# Layout:
#   DIR          root, 0755
#   DIR/ssh      root, 0700: sshd_config, host key, sshd.pid, sshd.log, port
#   DIR/auth     root, 0755: authorized_keys (sshd reads it as domkit-remote)
#   DIR/client   root, 0700: the client's key (.ssh/id_ed25519), known_hosts
#                (.config/libvirt/known_hosts); tests keep the client's own files here
#   DIR/d        domkit-remote, 0700: the daemon's lab folder (tests/lab/libvirtd.sh)
#   DIR/d/img    domkit-remote, 0700: the "remote host's disk", where a test places guest
#                media and disks for the remote daemon
#   DIR/d/pool   domkit-remote, 0700: the target of the daemon's dir pool "default",
#                defined and started (autostart on) at start as the host's admin would:
#                a session daemon's home cannot be learnt through libvirt, so dom-vol's
#                default pool must exist on such a host (lib/src/storage/pool.rs)
# What is enforced: the daemon's user (domkit-remote) cannot read DIR/ssh or DIR/client,
# nor the local lab daemon's user (domkit-lab) DIR/d; domkit-lab and every other user
# but root cannot read DIR/d. What is not: the client runs as root in CI, and root reads
# everything, DIR/d included; the tests keep to the ssh connection by choice. DIR/d/run's
# socket is reachable only by domkit-remote (and root): the ssh session's nc is the way in.
#
# sshd (must be started as root: it switches to domkit-remote for each session) listens on
# a free port on 127.0.0.1 only, accepts only domkit-remote, only with the lab's key, no
# passwords, no forwarding, no tty. StrictModes is off because DIR lives under /var/tmp
# (mode 1777), which sshd's path check refuses; DIR itself is root's, so nobody else can
# replace the files in it. sshd needs /run/sshd (its privilege separation folder), made
# here if absent, as Debian's service would make it.
# The user domkit-remote is created if absent: a system user whose shell is /bin/sh
# (sshd runs the session's command through it) and whose password field is '*' (no
# password; sshd refuses a '!'-locked account even for keys when PAM is off).
set -euo pipefail

readonly REMOTE_USER=domkit-remote
readonly START_DEADLINE=20   # seconds for sshd to listen and the daemon to answer over ssh
readonly STOP_DEADLINE=15    # seconds for sshd to exit after SIGTERM
here=$(cd "$(dirname "$0")" && pwd -P)
readonly here

die() { printf 'remote.sh: %s\n' "$*" >&2; exit 1; }
# shellcheck source=tests/lab/common.sh
. "$here/common.sh"

usage() {
  printf 'usage: %s start|stop|restart|uri|plain-uri|env|domtype|sessions|cut DIR\n' "$0" >&2
  exit 2
}

# sshd_pid DIR: the pid of this lab's listening sshd, if it runs.
sshd_pid() {
  local pidfile="$1/ssh/sshd.pid" pid
  [ -r "$pidfile" ] || return 1
  pid=$(tr -dc '0-9' < "$pidfile")
  [ -n "$pid" ] && running "$pid" || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sshd ] || return 1
  printf '%s\n' "$pid"
}

# daemon: tests/lab/libvirtd.sh on DIR/d as domkit-remote, DIR/d kept to that user.
daemon() {
  DOMKIT_LAB_USER=$REMOTE_USER DOMKIT_LAB_DIR_MODE=0700 "$here/libvirtd.sh" "$1" "$2/d"
}

ensure_user() {
  local -a groups=()
  if getent group kvm >/dev/null; then
    groups=(--groups kvm)
  fi
  # Tests start labs in parallel: another start may create the user at the same moment.
  if ! id -u "$REMOTE_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir / --shell /bin/sh \
      --user-group "${groups[@]}" "$REMOTE_USER" >/dev/null 2>&1 ||
      id -u "$REMOTE_USER" >/dev/null || die "cannot create user $REMOTE_USER"
  fi
  # Ours alone: a shell for sshd's sessions, and no password rather than a locked one.
  [ "$(getent passwd "$REMOTE_USER" | cut -d: -f7)" = /bin/sh ] || usermod -s /bin/sh "$REMOTE_USER"
  [ "$(getent shadow "$REMOTE_USER" | cut -d: -f2)" = '*' ] || usermod -p '*' "$REMOTE_USER"
}

port_of() { tr -dc '0-9' < "$1/ssh/port"; }

plain_uri() {
  printf 'qemu+libssh2://%s@127.0.0.1:%s/session?proxy=netcat&socket=%s/d/run/libvirt/libvirt-sock&sshauth=privkey' \
    "$REMOTE_USER" "$(port_of "$1")" "$1"
}

full_uri() {
  printf '%s&keyfile=%s/client/.ssh/id_ed25519&known_hosts=%s/client/.config/libvirt/known_hosts' \
    "$(plain_uri "$1")" "$1" "$1"
}

# free_port: a TCP port nothing listens on now (sshd's bind is the real test; start retries).
free_port() {
  local port line hex
  local -A used=()
  # /proc/net/tcp*: "sl local_address rem_address st ..." with the port in hex, 0A = LISTEN.
  while read -r _ line _ hex _; do
    [ "$hex" = 0A ] && used[$((16#${line##*:}))]=1
  done < <(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  while :; do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    [ -z "${used[$port]:-}" ] && break
  done
  printf '%s\n' "$port"
}

write_keys() {
  local dir="$1"
  mkdir -p "$dir/ssh" "$dir/client/.ssh" "$dir/client/.config/libvirt"
  chmod 0700 "$dir/ssh" "$dir/client" "$dir/client/.ssh"
  [ -s "$dir/ssh/host_ed25519" ] ||
    ssh-keygen -q -t ed25519 -N '' -C domkit-lab-host -f "$dir/ssh/host_ed25519"
  [ -s "$dir/client/.ssh/id_ed25519" ] ||
    ssh-keygen -q -t ed25519 -N '' -C domkit-lab-client -f "$dir/client/.ssh/id_ed25519"
  # The session may do nothing but what libvirt asks: no forwarding, no tty.
  # sshd reads it as the session's user: a folder of its own, public like the key.
  mkdir -p "$dir/auth"
  chmod 0755 "$dir/auth"
  printf 'restrict %s\n' "$(cat "$dir/client/.ssh/id_ed25519.pub")" > "$dir/auth/authorized_keys"
  chmod 0644 "$dir/auth/authorized_keys"
}

write_sshd_config() {
  local dir="$1" port="$2"
  cat > "$dir/ssh/sshd_config" <<EOF
# domkit test lab: written by tests/lab/remote.sh
ListenAddress 127.0.0.1:$port
HostKey $dir/ssh/host_ed25519
PidFile $dir/ssh/sshd.pid
AuthorizedKeysFile $dir/auth/authorized_keys
AllowUsers $REMOTE_USER
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding no
AllowStreamLocalForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
PermitUserEnvironment no
PrintMotd no
PrintLastLog no
Banner none
MaxStartups 100
LogLevel VERBOSE
EOF
  # The client trusts exactly this host key, at this address and port.
  printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$dir/ssh/host_ed25519.pub")" \
    > "$dir/client/.config/libvirt/known_hosts"
}

# launch_sshd DIR: starts sshd on a free port (a few tries: another program may take the
# port between the look and the bind). sshd -D stays in the foreground of a background
# job, so its pid is known at once; it writes its PidFile once it listens, and exits if
# it cannot bind.
launch_sshd() {
  local dir="$1" port pid deadline
  mkdir -p /run/sshd
  chmod 0755 /run/sshd
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    write_sshd_config "$dir" "$port"
    rm -f "$dir/ssh/sshd.pid"
    setsid /usr/sbin/sshd -D -f "$dir/ssh/sshd_config" -E "$dir/ssh/sshd.log" \
      </dev/null >/dev/null 2>>"$dir/ssh/sshd.log" &
    pid=$!
    deadline=$(( $(now_ms) + START_DEADLINE * 1000 ))
    while running "$pid" && [ "$(tr -dc '0-9' 2>/dev/null < "$dir/ssh/sshd.pid")" != "$pid" ]; do
      [ "$(now_ms)" -lt "$deadline" ] || { kill -KILL "$pid"; die "sshd did not listen in time"; }
      sleep 0.05   # poll interval
    done
    if running "$pid"; then
      printf '%s\n' "$port" > "$dir/ssh/port"
      return 0
    fi
  done
  die "sshd did not start; see $dir/ssh/sshd.log"
}

# define_pool DIR: the daemon's "default" dir pool in DIR/d/pool, through its local socket
# (the host admin's virsh, not the ssh connection); kept when already defined, started
# when not running. Autostart: a restarted daemon has it at once.
define_pool() {
  local uri target="$1/d/pool"
  uri=$(daemon uri "$1")
  if ! virsh -q -c "$uri" pool-info default >/dev/null 2>&1; then
    virsh -q -c "$uri" pool-define-as default dir --target "$target" >/dev/null
    virsh -q -c "$uri" pool-build default >/dev/null
    virsh -q -c "$uri" pool-autostart default >/dev/null
  fi
  if ! virsh -q -c "$uri" pool-info default | grep -q '^State: *running'; then
    virsh -q -c "$uri" pool-start default >/dev/null
  fi
}

answers_over_ssh() {
  timeout 20 virsh -q -c "$(full_uri "$1")" version >/dev/null 2>&1
}

cmd_start() {
  local dir="$1"
  [ "$(id -u)" -eq 0 ] || die "must run as root (sshd switches to $REMOTE_USER per session)"
  [ -x /usr/sbin/sshd ] || die "no /usr/sbin/sshd: install openssh-server (make deps)"
  command -v nc >/dev/null || die "no nc: install netcat-openbsd (make deps)"
  if sshd_pid "$dir" >/dev/null && daemon uri "$dir" >/dev/null 2>&1 && answers_over_ssh "$dir"; then
    full_uri "$dir"; printf '\n'
    return 0
  fi
  [ "${#dir}" -le 38 ] || die "DIR too long (${#dir} > 38 characters, Unix socket paths): $dir"
  cmd_stop "$dir"
  ensure_user
  chmod 0755 "$dir"
  write_keys "$dir"
  daemon start "$dir" >/dev/null
  mkdir -p "$dir/d/img"
  chown "$REMOTE_USER:$REMOTE_USER" "$dir/d/img"
  chmod 0700 "$dir/d/img"
  define_pool "$dir"
  launch_sshd "$dir"
  await_or_stop "$START_DEADLINE" "$dir" \
    "the daemon did not answer over ssh within ${START_DEADLINE}s; see $dir/ssh/sshd.log" \
    answers_over_ssh "$dir"
  full_uri "$dir"; printf '\n'
}

# session_pids DIR: every process of the open ssh connections: the listening sshd's
# children (one privileged monitor per connection) and all their descendants (the
# session's own sshd, which holds the connection's socket and runs as domkit-remote, its
# shell and nc). Killing the monitor alone leaves the session's sshd, and the connection,
# alive.
session_pids() {
  local pid
  local -a level=()
  pid=$(sshd_pid "$1") || return 0
  mapfile -t level < <(pgrep -P "$pid" || true)
  while [ "${#level[@]}" -gt 0 ]; do
    printf '%s\n' "${level[@]}"
    mapfile -t level < <(pgrep -P "$(IFS=,; printf '%s' "${level[*]}")" || true)
  done
}

# connections DIR: how many ssh connections are open (one monitor each).
connections() {
  local pid
  pid=$(sshd_pid "$1") || { printf '0\n'; return 0; }
  pgrep -c -P "$pid" || true
}

cmd_cut() {
  local dir="$1" count
  local -a pids=()
  count=$(connections "$dir")
  mapfile -t pids < <(session_pids "$dir")
  if [ "${#pids[@]}" -gt 0 ]; then
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait_gone "$STOP_DEADLINE" "${pids[@]}" || die "ssh sessions do not exit: ${pids[*]}"
  fi
  printf '%s\n' "$count"
}

cmd_stop() {
  local dir="$1" pid
  local -a sessions=()
  mapfile -t sessions < <(session_pids "$dir")
  if pid=$(sshd_pid "$dir"); then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$STOP_DEADLINE" "$pid" || { kill -KILL "$pid" 2>/dev/null || true; }
  fi
  # A listening sshd's exit leaves its sessions running.
  if [ "${#sessions[@]}" -gt 0 ]; then
    kill -KILL "${sessions[@]}" 2>/dev/null || true
    wait_gone 5 "${sessions[@]}" || true
  fi
  rm -f "$dir/ssh/sshd.pid"
  if [ -d "$dir/d" ]; then
    daemon stop "$dir"
  fi
}

lab_args "$@"

case "$action" in
  start) cmd_start "$dir" ;;
  stop) cmd_stop "$dir" ;;
  restart) daemon restart "$dir" >/dev/null ;;
  uri) sshd_pid "$dir" >/dev/null || die "no remote lab running in $dir"; full_uri "$dir"; printf '\n' ;;
  plain-uri) sshd_pid "$dir" >/dev/null || die "no remote lab running in $dir"; plain_uri "$dir"; printf '\n' ;;
  env) printf 'HOME=%s/client\nXDG_CONFIG_HOME=%s/client/.config\n' "$dir" "$dir" ;;
  domtype) daemon domtype "$dir" ;;
  sessions) connections "$dir" ;;
  cut) cmd_cut "$dir" ;;
  *) usage ;;
esac
