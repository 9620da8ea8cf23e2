#!/usr/bin/env bash
# bench/run.sh: `make bench` for the XML tools: domxml-rewrite/domxml-gen vs virt-xml/virt-install, in-process throughput, huge domains.
#
# Prints a markdown report to stdout and saves it to bench/results/latest.md. Never run
# in CI. Needs virtinst (virt-xml, virt-install), time (GNU time), python3 (Debian's,
# which virtinst depends on) and a Rust toolchain. Honours CARGO_TARGET_DIR.
# Knobs (environment):
#   BENCH_FILES=20       corpus files for the side-by-side with virt-xml (0: all 120)
#   BENCH_REPS=11        runs per input for domkit's tools
#   BENCH_PEER_REPS=3    runs per input for virt-xml (virt-install gets 2n+1)
#   BENCH_SECONDS=1      minimum measuring time per in-process row
#   BENCH_SIZES=1000,10000,100000   device counts of the generated huge domains
#   BENCH_CORPUS=DIR     default: tests/data/virt-manager/roundtrip
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
corpus=${BENCH_CORPUS:-$root/tests/data/virt-manager/roundtrip}
files=${BENCH_FILES:-20}
reps=${BENCH_REPS:-11}
peer_reps=${BENCH_PEER_REPS:-3}
seconds=${BENCH_SECONDS:-1}
sizes=${BENCH_SIZES:-1000,10000,100000}

die() { echo "bench: $*" >&2; exit 1; }

# Peers and tools, checked before anything slow happens.
for tool in /usr/bin/virt-xml /usr/bin/virt-install; do
  [ -x "$tool" ] || die "$tool not found: install Debian package virtinst (make deps)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) not found: install Debian package time (make deps)"
[ -x /usr/bin/python3 ] || die "/usr/bin/python3 not found: install Debian package python3 (make deps)"
command -v cargo >/dev/null || die "cargo not found"
[ -d "$corpus" ] || die "corpus $corpus not found (set BENCH_CORPUS)"
grep -q '^name = "xml"' "$root/Cargo.toml" \
  || die "Cargo.toml lacks the bench target; add: [[bench]] name = \"xml\" harness = false"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/domkit-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cd "$root"
echo "bench: building release binaries and the bench target..." >&2
cargo build --locked --release --quiet --bin domxml-rewrite --bin domxml-gen
cargo bench --locked --quiet --bench xml --no-run
target=$(scripts/target-dir.sh)
rewrite=$target/release/domxml-rewrite
gen=$target/release/domxml-gen
[ -x "$rewrite" ] && [ -x "$gen" ] || die "release binaries not found under $target/release"

# Inputs: the corpus after --to install (for --swap), and the huge generated domains.
iso=$tmp/install.iso
truncate -s 1M "$iso"
mkdir "$tmp/swap" "$tmp/big" "$tmp/run"
for f in "$corpus"/*.xml; do
  "$rewrite" --to install --cdrom "$iso" "$f" >"$tmp/swap/${f##*/}" 2>/dev/null \
    || rm -f "$tmp/swap/${f##*/}"
done
cargo bench --locked --quiet --bench xml -- --emit-big "$tmp/big" --sizes "$sizes"

# Sanity: the peer edits a corpus document, without a daemon, or we stop here.
# (A glob, not `ls | head`: under pipefail, ls dies of SIGPIPE once its listing outgrows
# one write, and the run stops here.)
corpus_files=("$corpus"/*.xml)
first=${corpus_files[0]}
HOME=$tmp/run XDG_CACHE_HOME=$tmp/run/.cache \
  /usr/bin/virt-xml --connect test:///default --edit --boot hd <"$first" >/dev/null 2>"$tmp/vx.err" \
  || die "virt-xml cannot edit $first: $(tail -n 1 "$tmp/vx.err")"

echo "bench: measuring (about two minutes)..." >&2
load0=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "## domkit XML benchmarks"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet HEAD -- lib tools 2>/dev/null || echo ' (dirty tree)'),"\
    "$(nproc) CPU $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1),"\
    "$(rustc --version | cut -d' ' -f1-2), virt-xml $(/usr/bin/virt-xml --version 2>&1)."
  echo "Wall times count waiting for a CPU: on a busy machine read the CPU columns too."
  echo
  /usr/bin/python3 "$root/bench/measure.py" --rewrite "$rewrite" --gen "$gen" \
    --corpus "$corpus" --swap-inputs "$tmp/swap" --big "$tmp/big" --tmp "$tmp/run" --iso "$iso" \
    --files "$files" --reps "$reps" --peer-reps "$peer_reps"
  echo "### 4. In-process (cargo bench --bench xml)"
  echo
  cargo bench --locked --quiet --bench xml -- --corpus "$corpus" --seconds "$seconds" --sizes "$sizes" | sed 's/^### /#### /'
  echo
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (at the start: $load0)."
} >"$tmp/report.md"

mkdir -p "$root/bench/results"
cp "$tmp/report.md" "$root/bench/results/latest.md"
cat "$tmp/report.md"
