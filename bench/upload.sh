#!/usr/bin/env bash
# bench/upload.sh: dom-vol upload against virsh vol-upload and virsh vol-upload --sparse,
# on a private lab libvirtd (tests/lab/libvirtd.sh) over its Unix socket and, run as
# root, on the lab's ssh host (tests/lab/remote.sh: another private libvirtd reached over
# qemu+libssh2), where scp of the image into the remote user's folder is measured too; for
# sparse images holding the same data in 2 GiB and 16 GiB. Prints a markdown report on
# stdout (progress on stderr).
#
# Each run uploads into a fresh volume made with allocation 0 (as dom-vol makes its own),
# then the volume is deleted. Reported: the median wall time of BENCH_UP_REPS runs, the
# bytes allocated on the host afterwards, and each time as a ratio to the fastest on the
# same host; and dom-vol's re-run on the uploaded volume (action "exists": the content
# digest and the lookups, no data sent), which says how much of its time the digest takes.
# Never run in CI; never touches the system libvirtd. Needs libvirt-clients (virsh),
# python3 and a Rust toolchain, and for the ssh host openssh-server, openssh-client and
# netcat-openbsd (make deps); honours CARGO_TARGET_DIR.
# Knobs (environment):
#   BENCH_UP_REPS=3                  runs per tool and image
#   BENCH_UP_DATA_MIB=256            MiB of data in each image
#   BENCH_UP_SIZES="2 16"            image sizes in GiB
#   BENCH_UP_HOSTS="local ssh"       which hosts (ssh: only as root, remote.sh needs it)
#   BENCH_UP_LAB=/var/tmp/dk-bench-up    the lab folder (absolute, <= 40 characters)
#   BENCH_UP_REMOTE=/var/tmp/dk-bench-upr  the ssh host's folder (absolute, <= 38)
#   BENCH_UP_PROFILE=release         cargo profile of dom-vol (dev: no build of the rest)
#   BENCH_UP_DENSE_MAX_GIB=2         plain `virsh vol-upload` and scp write the whole image
#                                    on the host: only for images up to this size
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lab=${BENCH_UP_LAB:-/var/tmp/dk-bench-up}
remote=${BENCH_UP_REMOTE:-/var/tmp/dk-bench-upr}
hosts=${BENCH_UP_HOSTS:-local ssh}
reps=${BENCH_UP_REPS:-3}
data_mib=${BENCH_UP_DATA_MIB:-256}
sizes=${BENCH_UP_SIZES:-2 16}
profile=${BENCH_UP_PROFILE:-release}
dense_max=${BENCH_UP_DENSE_MAX_GIB:-2}

die() { echo "bench/upload: $*" >&2; exit 1; }
[ -x /usr/bin/virsh ] || die "virsh not found: install libvirt-clients (make deps)"
case "$lab" in /*) ;; *) die "BENCH_UP_LAB must be absolute: $lab" ;; esac
case "$remote" in /*) ;; *) die "BENCH_UP_REMOTE must be absolute: $remote" ;; esac
case " $hosts " in *" ssh "*) [ "$(id -u)" -eq 0 ] || die "the ssh host needs root (tests/lab/remote.sh); set BENCH_UP_HOSTS=local" ;; esac

cd "$root"
echo "bench/upload: building dom-vol ($profile)..." >&2
cargo build --quiet --profile "$profile" --bin dom-vol
target=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
dir=$profile; [ "$profile" = dev ] && dir=debug
vol=$target/$dir/dom-vol

cleanup() {
  tests/lab/libvirtd.sh stop "$lab" >/dev/null 2>&1 || true
  [ -d "$remote" ] && { tests/lab/remote.sh stop "$remote" >/dev/null 2>&1 || true; }
  rm -rf "$lab" "$remote"
}
trap cleanup EXIT

# use_host HOST: sets uri and pool (the pool's folder, read as the host's admin would)
# for HOST; scp_to is the ssh host's scp destination prefix.
use_host() {
  case $1 in
    local)
      uri=$(tests/lab/libvirtd.sh start "$lab")
      pool=$lab/pool
      if ! virsh -q -c "$uri" pool-info default >/dev/null 2>&1; then
        virsh -q -c "$uri" pool-define-as default dir --target "$pool" >/dev/null
        virsh -q -c "$uri" pool-build default >/dev/null
        virsh -q -c "$uri" pool-start default >/dev/null
      fi
      ;;
    ssh)
      # remote.sh makes the host's default pool in d/pool; the remote user's folder for
      # scp is d/img.
      mkdir -p "$remote"
      uri=$(tests/lab/remote.sh start "$remote")
      pool=$remote/d/pool
      port=${uri#*@127.0.0.1:}; port=${port%%/*}
      scp_opts=(-q -O -P "$port" -i "$remote/client/.ssh/id_ed25519"
        -o UserKnownHostsFile="$remote/client/.config/libvirt/known_hosts"
        -o StrictHostKeyChecking=yes -o BatchMode=yes)
      scp_to=domkit-remote@127.0.0.1:$remote/d/img
      ;;
    *) die "unknown host in BENCH_UP_HOSTS: $1" ;;
  esac
}

now_ms() { date +%s%3N; }
allocated() { stat -c %b "$1" | awk '{printf "%d", $1 * 512 / 1048576}'; }

# image GIB: a sparse image of GIB GiB with data_mib MiB of random data in 4 MiB pieces
# spread evenly over it (the same data for every size).
image() {
  local gib=$1 f="$lab/client/img-$1g.raw" pieces=$((data_mib / 4)) i
  mkdir -p "$lab/client"
  rm -f "$f"; truncate -s "${gib}G" "$f"
  for ((i = 0; i < pieces; i++)); do
    dd if="$lab/client/data" of="$f" bs=4M count=1 skip="$i" \
       seek=$((i * gib * 256 / pieces)) conv=notrunc status=none
  done
  echo "$f"
}
mkdir -p "$lab/client"; head -c "$((data_mib << 20))" /dev/urandom > "$lab/client/data"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }

echo "| host | image | tool | median wall (ms) | allocated on the host (MiB) | ratio to fastest |"
echo "|---|---|---|---:|---:|---:|"
for host in $hosts; do
use_host "$host"
for gib in $sizes; do
  img=$(image "$gib")
  declare -A ms=() alloc=()
  tools="dom-vol virsh-sparse"
  if [ "$gib" -le "$dense_max" ]; then
    tools="dom-vol virsh virsh-sparse"
    [ "$host" = ssh ] && tools="$tools scp"
  fi
  again=()
  for tool in $tools; do
    runs=()
    for ((r = 0; r < reps; r++)); do
      name="b-$tool-$r"
      on_host=$pool/$name
      echo "bench/upload: $host, $gib GiB, $tool, run $((r + 1))/$reps" >&2
      case $tool in
        virsh|virsh-sparse)
          virsh -q -c "$uri" vol-create-as default "$name" "${gib}G" --allocation 0 --format raw >/dev/null ;;
        scp) on_host=$remote/d/img/$name ;;
      esac
      start=$(now_ms)
      case $tool in
        dom-vol) "$vol" -c "$uri" upload "$img" --name "$name" >/dev/null ;;
        virsh) virsh -q -c "$uri" vol-upload --pool default "$name" "$img" ;;
        virsh-sparse) virsh -q -c "$uri" vol-upload --sparse --pool default "$name" "$img" ;;
        scp) scp "${scp_opts[@]}" "$img" "$scp_to/$name" ;;
      esac
      runs+=($(($(now_ms) - start)))
      alloc[$tool]=$(allocated "$on_host")
      cmp -s "$img" "$on_host" || die "$host, $tool: the copy on the host differs from the image"
      case $tool in
        dom-vol)
          start=$(now_ms)
          "$vol" -c "$uri" upload "$img" --name "$name" | grep -q '"action":"exists"' \
            || die "dom-vol: the re-run did not find the volume complete"
          again+=($(($(now_ms) - start)))
          "$vol" -c "$uri" delete "default/$name" >/dev/null ;;
        scp) rm -f "$on_host" ;;
        *) virsh -q -c "$uri" vol-delete --pool default "$name" >/dev/null ;;
      esac
    done
    ms[$tool]=$(printf '%s\n' "${runs[@]}" | median)
  done
  fastest=$(printf '%s\n' "${ms[@]}" | sort -n | head -1)
  row="| $host | $gib GiB, $data_mib MiB data |"
  for tool in $tools; do
    label=$tool
    case $tool in
      virsh-sparse) label="virsh --sparse" ;;
      scp) label="scp (to the remote user's folder)" ;;
    esac
    ratio=$(awk -v a="${ms[$tool]}" -v b="$fastest" 'BEGIN {printf "%.2f", a / b}')
    echo "$row $label | ${ms[$tool]} | ${alloc[$tool]} | $ratio |"
  done
  [ "$gib" -le "$dense_max" ] || echo "$row virsh$([ "$host" = ssh ] && echo ', scp') | not run: writes all $gib GiB on the host | | |"
  echo "$row dom-vol re-run (exists: digest only) | $(printf '%s\n' "${again[@]}" | median) | | |"
  rm -f "$img"
  unset ms alloc
done
done
