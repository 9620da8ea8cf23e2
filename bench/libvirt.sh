#!/usr/bin/env bash
# bench/libvirt.sh: benchmarks dom-define/dom-create/dom-wait-shutdown and the whole install flow against virsh and virt-install on a private libvirtd.
#
# Starts its own lab daemon (tests/lab/libvirtd.sh) in $BENCH_LV_LAB, builds the test guest
# (tests/lab/guest.sh, cached), and prints a markdown report to stdout (progress on
# stderr). Never run in CI; never touches the system libvirtd. Needs: libvirt-clients
# (virsh), virtinst (virt-install), time (GNU time), python3, the lab's packages
# (scripts/deps.sh) and a Rust toolchain. Honours CARGO_TARGET_DIR. Takes ~5 minutes
# under TCG with the defaults.
# Knobs (environment):
#   BENCH_LV_REPS=20        runs per tool for the per-tool wall times
#   BENCH_LV_RSS_REPS=5     runs per tool under GNU time for the peak RSS
#   BENCH_LV_WAIT_REPS=10   runs per stop kind for the Stopped-event-to-exit delay
#   BENCH_LV_FLOW_REPS=3    whole install flows per tool (each ~10-15 s under TCG)
#   BENCH_LV_LAB=/var/tmp/domkit-bench-lv     the lab folder (absolute, <= 40 characters)
#   DOMKIT_GUEST_CACHE  the test guest's cache (default: tests/lab/guest.sh's own)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lab=${BENCH_LV_LAB:-/var/tmp/domkit-bench-lv}

die() { echo "bench/libvirt: $*" >&2; exit 1; }

for tool in /usr/bin/virsh /usr/bin/virt-install; do
  [ -x "$tool" ] || die "$tool not found: install libvirt-clients and virtinst (make deps)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) not found: install Debian package time (make deps)"
[ -x /usr/bin/python3 ] || die "/usr/bin/python3 not found: install Debian package python3 (make deps)"
command -v cargo >/dev/null || die "cargo not found"
case "$lab" in /*) ;; *) die "BENCH_LV_LAB must be absolute: $lab" ;; esac

cd "$root"
echo "bench/libvirt: building release binaries..." >&2
cargo build --release --quiet --bin domxml-gen --bin domxml-rewrite \
  --bin dom-define --bin dom-create --bin dom-wait-shutdown
target=$(scripts/target-dir.sh)
bin=$target/release
for t in domxml-gen domxml-rewrite dom-define dom-create dom-wait-shutdown; do
  [ -x "$bin/$t" ] || die "$bin/$t not found"
done

echo "bench/libvirt: building the test guest (cached)..." >&2
# The guest cache: DOMKIT_GUEST_CACHE, else guest.sh's own (named after a hash of it).
guest=$(dirname "$(tests/lab/guest.sh ${DOMKIT_GUEST_CACHE:+"$DOMKIT_GUEST_CACHE"} | head -n1)")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/domkit-bench-lv.XXXXXX")
cleanup() {
  tests/lab/libvirtd.sh stop "$lab" >/dev/null 2>&1 || true
  rm -rf "$tmp" "$lab"
}
trap cleanup EXIT
tests/lab/libvirtd.sh stop "$lab" >/dev/null 2>&1 || true
rm -rf "$lab"
echo "bench/libvirt: starting the lab daemon in $lab..." >&2
uri=$(tests/lab/libvirtd.sh start "$lab")
domtype=$(tests/lab/libvirtd.sh domtype "$lab")
vms=$lab/vms
mkdir -p "$vms"
if [ "$(id -u)" -eq 0 ]; then chown domkit-lab: "$vms"; fi

echo "bench/libvirt: measuring (a few minutes)..." >&2
{
  echo "## domkit libvirt benchmarks"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet HEAD -- lib tools 2>/dev/null || echo ' (dirty tree)'),"\
    "$(nproc) CPU $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1),"\
    "hypervisor $(/usr/bin/virsh -c "$uri" version 2>/dev/null | sed -n "s/^Running hypervisor: //p"),"\
    "virsh $(/usr/bin/virsh --version), virt-install $(/usr/bin/virt-install --version 2>&1),"\
    "domain type $domtype$([ "$domtype" = qemu ] && echo ' (TCG)'); one private session libvirtd, same guest for all."
  echo
  /usr/bin/python3 "$root/bench/libvirt-measure.py" --uri "$uri" --bin "$bin" --vms "$vms" \
    --tmp "$tmp" --iso "$guest/install.iso" --domtype "$domtype" \
    --reps "${BENCH_LV_REPS:-20}" --rss-reps "${BENCH_LV_RSS_REPS:-5}" \
    --wait-reps "${BENCH_LV_WAIT_REPS:-10}" --flow-reps "${BENCH_LV_FLOW_REPS:-3}"
} >"$tmp/report.md"
cat "$tmp/report.md"
