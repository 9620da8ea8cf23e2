#!/usr/bin/env bash
# bench/upload.sh: dom-vol upload against virsh vol-upload and virsh vol-upload --sparse,
# on a private lab libvirtd (tests/lab/libvirtd.sh), for sparse images holding the same
# data in 2 GiB and 16 GiB. Prints a markdown report on stdout (progress on stderr).
#
# Each run uploads into a fresh volume made with allocation 0 (as dom-vol makes its own),
# then the volume is deleted. Reported: the median wall time of BENCH_UP_REPS runs, the
# bytes allocated on the host afterwards, and each time as a ratio to the fastest; and
# dom-vol's re-run on the uploaded volume (action "exists": the content digest and the
# lookups, no data sent), which says how much of its time the digest takes.
# Never run in CI; never touches the system libvirtd. Needs libvirt-clients (virsh),
# python3 and a Rust toolchain; honours CARGO_TARGET_DIR.
# Knobs (environment):
#   BENCH_UP_REPS=3                  runs per tool and image
#   BENCH_UP_DATA_MIB=256            MiB of data in each image
#   BENCH_UP_SIZES="2 16"            image sizes in GiB
#   BENCH_UP_LAB=/var/tmp/dk-bench-up    the lab folder (absolute, <= 40 characters)
#   BENCH_UP_PROFILE=release         cargo profile of dom-vol (dev: no build of the rest)
#   BENCH_UP_DENSE_MAX_GIB=2         plain `virsh vol-upload` writes the whole image on the
#                                    host: only for images up to this size
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lab=${BENCH_UP_LAB:-/var/tmp/dk-bench-up}
reps=${BENCH_UP_REPS:-3}
data_mib=${BENCH_UP_DATA_MIB:-256}
sizes=${BENCH_UP_SIZES:-2 16}
profile=${BENCH_UP_PROFILE:-release}
dense_max=${BENCH_UP_DENSE_MAX_GIB:-2}

die() { echo "bench/upload: $*" >&2; exit 1; }
[ -x /usr/bin/virsh ] || die "virsh not found: install libvirt-clients (make deps)"
case "$lab" in /*) ;; *) die "BENCH_UP_LAB must be absolute: $lab" ;; esac

cd "$root"
echo "bench/upload: building dom-vol ($profile)..." >&2
cargo build --quiet --profile "$profile" --bin dom-vol
target=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
dir=$profile; [ "$profile" = dev ] && dir=debug
vol=$target/$dir/dom-vol

uri=$(tests/lab/libvirtd.sh start "$lab")
trap 'tests/lab/libvirtd.sh stop "$lab" >/dev/null; rm -rf "$lab"' EXIT
virsh -q -c "$uri" pool-define-as default dir --target "$lab/pool" >/dev/null
virsh -q -c "$uri" pool-build default >/dev/null
virsh -q -c "$uri" pool-start default >/dev/null

now_ms() { date +%s%3N; }
allocated() { stat -c %b "$lab/pool/$1" | awk '{printf "%d", $1 * 512 / 1048576}'; }

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

echo "| image | tool | median wall (ms) | allocated on the host (MiB) | ratio to fastest |"
echo "|---|---|---:|---:|---:|"
for gib in $sizes; do
  img=$(image "$gib")
  declare -A ms=() alloc=()
  tools="dom-vol virsh-sparse"
  [ "$gib" -le "$dense_max" ] && tools="dom-vol virsh virsh-sparse"
  again=()
  for tool in $tools; do
    runs=()
    for ((r = 0; r < reps; r++)); do
      name="b-$tool-$r"
      echo "bench/upload: $gib GiB, $tool, run $((r + 1))/$reps" >&2
      if [ "$tool" != dom-vol ]; then
        virsh -q -c "$uri" vol-create-as default "$name" "${gib}G" --allocation 0 --format raw >/dev/null
      fi
      start=$(now_ms)
      case $tool in
        dom-vol) "$vol" -c "$uri" upload "$img" --name "$name" >/dev/null ;;
        virsh) virsh -q -c "$uri" vol-upload --pool default "$name" "$img" ;;
        virsh-sparse) virsh -q -c "$uri" vol-upload --sparse --pool default "$name" "$img" ;;
      esac
      runs+=($(($(now_ms) - start)))
      alloc[$tool]=$(allocated "$name")
      cmp -s "$img" "$lab/pool/$name" || die "$tool: the volume differs from the image"
      if [ "$tool" = dom-vol ]; then
        start=$(now_ms)
        "$vol" -c "$uri" upload "$img" --name "$name" | grep -q '"action":"exists"' \
          || die "dom-vol: the re-run did not find the volume complete"
        again+=($(($(now_ms) - start)))
        "$vol" -c "$uri" delete "default/$name" >/dev/null
      else
        virsh -q -c "$uri" vol-delete --pool default "$name" >/dev/null
      fi
    done
    ms[$tool]=$(printf '%s\n' "${runs[@]}" | median)
  done
  fastest=$(printf '%s\n' "${ms[@]}" | sort -n | head -1)
  for tool in $tools; do
    label=$tool; [ "$tool" = virsh-sparse ] && label="virsh --sparse"
    ratio=$(awk -v a="${ms[$tool]}" -v b="$fastest" 'BEGIN {printf "%.2f", a / b}')
    echo "| $gib GiB, $data_mib MiB data | $label | ${ms[$tool]} | ${alloc[$tool]} | $ratio |"
  done
  [ "$gib" -le "$dense_max" ] || echo "| $gib GiB, $data_mib MiB data | virsh | not run: writes all $gib GiB on the host | | |"
  echo "| $gib GiB, $data_mib MiB data | dom-vol re-run (exists: digest only) | $(printf '%s\n' "${again[@]}" | median) | | |"
  rm -f "$img"
  unset ms alloc
done
