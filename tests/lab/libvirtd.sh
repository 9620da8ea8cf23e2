#!/usr/bin/env bash
# Private test hypervisor: a session-mode libvirtd (real QEMU) of its own, unprivileged, in a lab folder.
#
# Usage:
#   tests/lab/libvirtd.sh start   DIR   start the lab daemon (idempotent); prints its URI
#   tests/lab/libvirtd.sh uri     DIR   prints the URI of the lab in DIR
#   tests/lab/libvirtd.sh domtype DIR   prints the domain type to use: "kvm" or "qemu" (TCG)
#   tests/lab/libvirtd.sh stop    DIR   stops the daemon and every QEMU of this lab (idempotent)
#   tests/lab/libvirtd.sh restart DIR   stops the daemon only (SIGTERM) and starts it again: its
#                                       guests run on and the new daemon reconnects to them, as
#                                       after `systemctl restart libvirtd`
#
# The URI is   qemu+unix:///session?socket=DIR/run/libvirt/libvirt-sock
# (DIR made absolute). Any local user that can reach the socket may use it, root included.
#
# The daemon never touches the system daemon, /etc/libvirt or anybody's ~/.config:
# HOME and XDG_{CONFIG,CACHE,DATA,RUNTIME}_HOME all point into DIR:
#   DIR/cfg     XDG_CONFIG_HOME   libvirtd.conf, qemu.conf, persistent domain XML
#   DIR/cache   XDG_CACHE_HOME    per-domain QEMU logs (cache/libvirt/qemu/log/NAME.log)
#   DIR/data    XDG_DATA_HOME
#   DIR/run     XDG_RUNTIME_DIR   sockets (run/libvirt/libvirt-sock) and QEMU pid files
#   DIR/libvirtd.pid, DIR/libvirtd.log   the daemon's pid and log
#
# Run as root, the daemon runs as the system user "domkit-lab" (created if absent, no home,
# no login shell), DIR is chowned to it, and so are the QEMU processes it starts. Hence:
#   - DIR must be reachable by that user: put it under /var/tmp or /tmp, not under /root
#     or a root-only checkout; every parent directory needs o+x.
#   - kernels, initrds, ISOs and disk images given to guests must be readable (disks:
#     writable) by that user, and serial log files are created by QEMU as that user.
# Run as a normal user, the daemon simply runs as that user.
#
# DIR is kept short on purpose: QEMU's monitor socket lives at
# DIR/cfg/libvirt/qemu/lib/domain-ID-NAME/monitor.sock and a Unix socket path has at most
# 107 bytes, so DIR (absolute) may have at most 40 characters.
#
# KVM is used only if the daemon's user can open /dev/kvm (its permissions are never
# changed; the lab user is put in group kvm when it is created, if that group exists);
# otherwise guests need type='qemu' (TCG). `domtype` tells which.
# Only the daemon's own user may use the admin socket (virt-admin): run it through
# setpriv --reuid domkit-lab as root. The libvirt socket itself accepts root too.
#
# Environment (for tests/lab/remote.sh, whose daemon stands for another host):
#   DOMKIT_LAB_USER       the user the daemon runs as when started by root (domkit-lab)
#   DOMKIT_LAB_DIR_MODE   DIR's mode after the chown (0755; 0700 keeps other users out)
set -euo pipefail

readonly LAB_USER=${DOMKIT_LAB_USER:-domkit-lab}
readonly LAB_DIR_MODE=${DOMKIT_LAB_DIR_MODE:-0755}
readonly START_DEADLINE=20   # seconds for the daemon socket to answer
readonly STOP_DEADLINE=15    # seconds for the daemon / QEMU to exit after SIGTERM

die() { printf 'libvirtd.sh: %s\n' "$*" >&2; exit 1; }
# shellcheck source=tests/lab/common.sh
. "$(dirname "$0")/common.sh"

usage() {
  printf 'usage: %s start|stop|restart|uri|domtype DIR\n' "$0" >&2
  exit 2
}

lab_uri() { printf 'qemu+unix:///session?socket=%s/run/libvirt/libvirt-sock' "$1"; }

# pid_alive PID NAME: PID runs and its command name is NAME (guards against pid reuse).
pid_alive() {
  local pid="$1" name="$2" comm
  [ -n "$pid" ] && running "$pid" || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [ "$comm" = "$name" ]
}

daemon_pid() {
  local pidfile="$1/libvirtd.pid" pid
  [ -r "$pidfile" ] || return 1
  pid=$(tr -dc '0-9' < "$pidfile")
  pid_alive "$pid" libvirtd || return 1
  printf '%s\n' "$pid"
}

answers() { timeout 10 virsh -q -c "$(lab_uri "$1")" version >/dev/null 2>&1; }

# lab_qemu_pids DIR: QEMU processes started by this lab (their command line names DIR).
lab_qemu_pids() {
  local dir="$1" p cmd
  for p in /proc/[0-9]*; do
    [ -r "$p/cmdline" ] || continue
    cmd=$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null) || continue
    case "$cmd" in
      *qemu-system*"$dir/"*) printf '%s\n' "${p#/proc/}" ;;
    esac
  done
}

ensure_user() {
  local -a groups=()
  # Where /dev/kvm is root:kvm 0660 (Debian with udev), group kvm is what grants KVM.
  if getent group kvm >/dev/null; then
    groups=(--groups kvm)
  fi
  if ! id -u "$LAB_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin --user-group "${groups[@]}" "$LAB_USER" >/dev/null
  fi
}

write_config() {
  local dir="$1"
  mkdir -p "$dir/cfg/libvirt" "$dir/cache" "$dir/data" "$dir/run"
  chmod 0700 "$dir/run"
  cat > "$dir/cfg/libvirt/libvirtd.conf" <<EOF
# domkit test lab: written by tests/lab/libvirtd.sh
log_outputs = "3:file:$dir/libvirtd.log"
EOF
  # QEMU's stdout/stderr go straight to a file: no virtlogd to start and clean up.
  cat > "$dir/cfg/libvirt/qemu.conf" <<EOF
# domkit test lab: written by tests/lab/libvirtd.sh
stdio_handler = "file"
EOF
}

cmd_start() {
  local dir="$1" uri deadline
  uri=$(lab_uri "$dir")
  if daemon_pid "$dir" >/dev/null && answers "$dir"; then
    printf '%s\n' "$uri"
    return 0
  fi
  [ "${#dir}" -le 40 ] || die "DIR too long (${#dir} > 40 characters, Unix socket paths): $dir"
  # A dead or half-started previous daemon: clean it away first.
  cmd_stop "$dir"
  launch "$dir"
}

# launch DIR: starts the daemon (none runs) and waits until it answers; prints its URI.
launch() {
  local dir="$1" uri
  uri=$(lab_uri "$dir")
  mkdir -p "$dir"
  write_config "$dir"
  rm -f "$dir/libvirtd.pid"
  touch "$dir/libvirtd.log"   # before the chown: the daemon's stderr goes there too

  local -a as_user=()
  if [ "$(id -u)" -eq 0 ]; then
    ensure_user
    chown -R "$LAB_USER:$LAB_USER" "$dir"
    chmod "$LAB_DIR_MODE" "$dir"
    # The lab user must be able to reach DIR through every parent directory.
    if ! setpriv --reuid "$LAB_USER" --regid "$LAB_USER" --init-groups \
        test -w "$dir/run" -a -x "$dir" 2>/dev/null; then
      die "user $LAB_USER cannot reach $dir (put the lab under /var/tmp or /tmp)"
    fi
    as_user=(setpriv --reuid "$LAB_USER" --regid "$LAB_USER" --init-groups)
  fi

  # --daemon: the parent returns once the daemon has initialised (or failed).
  if ! "${as_user[@]}" env -i \
      PATH=/usr/sbin:/usr/bin:/sbin:/bin \
      HOME="$dir" \
      XDG_CONFIG_HOME="$dir/cfg" \
      XDG_CACHE_HOME="$dir/cache" \
      XDG_DATA_HOME="$dir/data" \
      XDG_RUNTIME_DIR="$dir/run" \
      LC_ALL=C \
      /usr/sbin/libvirtd --daemon \
        --config "$dir/cfg/libvirt/libvirtd.conf" \
        --pid-file "$dir/libvirtd.pid" >/dev/null 2>>"$dir/libvirtd.log"; then
    die "libvirtd failed to start; see $dir/libvirtd.log"
  fi

  await_or_stop "$START_DEADLINE" "$dir" \
    "libvirtd did not answer on $uri within ${START_DEADLINE}s; see $dir/libvirtd.log" \
    answers "$dir"
  daemon_pid "$dir" >/dev/null || die "libvirtd answers but $dir/libvirtd.pid is stale"
  printf '%s\n' "$uri"
}

cmd_stop() {
  local dir="$1" pid uri name
  local -a qpids=()
  uri=$(lab_uri "$dir")
  if pid=$(daemon_pid "$dir"); then
    # Stop running guests through libvirt first, so it records them as destroyed.
    if answers "$dir"; then
      while IFS= read -r name; do
        [ -n "$name" ] || continue
        timeout 10 virsh -q -c "$uri" destroy "$name" >/dev/null 2>&1 || true
      done < <(timeout 10 virsh -q -c "$uri" list --name 2>/dev/null || true)
    fi
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$STOP_DEADLINE" "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone 5 "$pid" || die "libvirtd pid $pid does not exit"
    fi
  fi
  # QEMU outlives a stopped libvirtd by design: end this lab's leftovers.
  mapfile -t qpids < <(lab_qemu_pids "$dir")
  if [ "${#qpids[@]}" -gt 0 ]; then
    kill -TERM "${qpids[@]}" 2>/dev/null || true
    if ! wait_gone "$STOP_DEADLINE" "${qpids[@]}"; then
      kill -KILL "${qpids[@]}" 2>/dev/null || true
      wait_gone 5 "${qpids[@]}" || die "QEMU of $dir does not exit: ${qpids[*]}"
    fi
  fi
  # Sockets and pid files of a stopped daemon are stale.
  rm -f "$dir/libvirtd.pid"
  if [ -d "$dir/run/libvirt" ]; then
    find "$dir/run/libvirt" -maxdepth 1 -name '*-sock*' -delete 2>/dev/null || true
  fi
  return 0
}

# cmd_restart DIR: what `systemctl restart libvirtd` does to a host. Unlike cmd_stop, no
# guest is destroyed and no QEMU is signalled: libvirtd keeps each running guest's state
# under DIR/run and the new daemon reconnects to its QEMU monitor.
cmd_restart() {
  local dir="$1" pid
  if pid=$(daemon_pid "$dir"); then
    kill -TERM "$pid" 2>/dev/null || true
    # Until it has exited its socket still answers: launching now would race with it.
    wait_gone "$STOP_DEADLINE" "$pid" || die "libvirtd pid $pid does not exit"
  fi
  # The old daemon's sockets are stale (the guests' state files under run/ are not).
  rm -f "$dir/libvirtd.pid"
  find "$dir/run/libvirt" -maxdepth 1 -name '*-sock*' -delete 2>/dev/null || true
  launch "$dir"
}

cmd_uri() {
  local dir="$1"
  daemon_pid "$dir" >/dev/null || die "no lab daemon running in $dir"
  printf '%s\n' "$(lab_uri "$dir")"
}

cmd_domtype() {
  local dir="$1" uri
  uri=$(lab_uri "$dir")
  answers "$dir" || die "no lab daemon answering in $dir"
  # libvirt probes /dev/kvm as the daemon's user: KVM domcapabilities exist iff usable.
  if timeout 30 virsh -q -c "$uri" domcapabilities --virttype kvm >/dev/null 2>&1; then
    printf 'kvm\n'
  else
    printf 'qemu\n'
  fi
}

lab_args "$@"

case "$action" in
  start) cmd_start "$dir" ;;
  stop) cmd_stop "$dir" ;;
  restart) cmd_restart "$dir" ;;
  uri) cmd_uri "$dir" ;;
  domtype) cmd_domtype "$dir" ;;
  *) usage ;;
esac
