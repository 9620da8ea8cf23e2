#!/usr/bin/env bash
# Helpers the lab scripts (libvirtd.sh, remote.sh) share; sourced, never run. Each script
# defines die() before sourcing this.

# now_ms: monotonic-enough wall clock in milliseconds, for deadlines.
now_ms() { date +%s%3N; }

# running PID: the process exists and is not a zombie. (An exited daemon or QEMU is
# reparented to PID 1; some container inits reap it only a second or so later.)
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# wait_gone DEADLINE_S PID...: poll until none of the pids exist. Returns 1 on timeout.
wait_gone() {
  local deadline=$(( $(now_ms) + $1 * 1000 )) p left
  shift
  while :; do
    left=0
    for p in "$@"; do
      running "$p" && left=1
    done
    [ "$left" -eq 0 ] && return 0
    [ "$(now_ms)" -ge "$deadline" ] && return 1
    sleep 0.05   # poll interval, not synchronisation
  done
}

# lab_args ACTION DIR: the script's two arguments (usage() otherwise) into $action and
# $dir, DIR made absolute (created for start). A lab that never existed: stop succeeds at
# once (exit 0), any other action dies.
lab_args() {
  [ "$#" -eq 2 ] && [ -n "$2" ] || usage
  action="$1"
  local given="$2"
  if [ "$action" = start ]; then
    mkdir -p "$given"
  fi
  if [ -d "$given" ]; then
    dir=$(cd "$given" && pwd -P)
  else
    case "$action" in
      stop) exit 0 ;;
      *) die "no lab in $given" ;;
    esac
  fi
}

# await_or_stop SECONDS DIR MESSAGE CHECK...: polls CHECK until it succeeds; past the
# deadline, stops the lab in DIR (the sourcing script's cmd_stop) and dies with MESSAGE.
await_or_stop() {
  local deadline=$(( $(now_ms) + $1 * 1000 )) dir="$2" message="$3"
  shift 3
  until "$@"; do
    if [ "$(now_ms)" -ge "$deadline" ]; then
      cmd_stop "$dir"
      die "$message"
    fi
    sleep 0.1   # poll interval
  done
}
