#!/usr/bin/env bash
# bench/supervise.sh: N lab guests (default 100, 128 MiB each) installed at once on one private libvirtd, one dom-wait-shutdown watching them all; prints a markdown report.
#
# Part of `make bench` (never CI). Steps, each timed:
#   1. start: `make -jN` over a Makefile whose rule defines each guest and starts its
#      installer (dom-define; domxml-rewrite --to install | dom-create --resume > NAME.started);
#   2. install: ONE `dom-wait-shutdown --timeout --idle-timeout` reads all N records and
#      waits for every installer to stop; run under GNU time for its peak RSS and CPU time
#      (CPU per hour of waiting = CPU seconds / wall seconds * 3600);
#   3. finish: `make -jN` over the documented Makefile (README, domkit(7)): for an
#      installed guest its installer is skipped (dom-create --resume) and the final config
#      is started;
#   4. final boots: one dom-wait-shutdown for all N final boots.
# Then every guest's serial log (kept across boots: <log append='on'/>) must show exactly
# one installer run and, last, the boot from its own disk; the report counts failures.
# Knobs: BENCH_SUP_GUESTS=100, BENCH_SUP_LAB=/var/tmp/domkit-bench-sup (<= 40 chars),
# DOMKIT_GUEST_CACHE (default: tests/lab/guest.sh's own cache).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${BENCH_SUP_GUESTS:-100}
lab=${BENCH_SUP_LAB:-/var/tmp/domkit-bench-sup}
say() { echo "bench/supervise: $*" >&2; }
die() { say "$*"; exit 1; }
now() { date +%s.%N; }

[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) not found (make deps)"
cd "$root"
say "building release binaries..."
cargo build --release --quiet --bin domxml-gen --bin domxml-rewrite \
  --bin dom-define --bin dom-create --bin dom-wait-shutdown
target=$(scripts/target-dir.sh)
bin=$target/release
if [ -n "${DOMKIT_GUEST_CACHE:-}" ]; then
  guest=$(dirname "$(tests/lab/guest.sh "$DOMKIT_GUEST_CACHE" | head -n1)")
else
  guest=$(dirname "$(tests/lab/guest.sh | head -n1)")
fi

cleanup() { tests/lab/libvirtd.sh stop "$lab" >/dev/null 2>&1 || true; rm -rf "$lab"; }
trap cleanup EXIT
cleanup
uri=$(tests/lab/libvirtd.sh start "$lab")
domtype=$(tests/lab/libvirtd.sh domtype "$lab")
vms=$lab/vms
mkdir -p "$vms"
export PATH="$bin:$PATH" LIBVIRT_DEFAULT_URI="$uri"

say "generating $n guests..."
names=()
for i in $(seq -w 1 "$n"); do
  name=g$i
  names+=("$name")
  truncate -s 64M "$vms/$name.img"
  domxml-gen --name "$name" --type "$domtype" --memory 128MiB \
    --disk "$vms/$name.img,format=raw" --serial pty --graphics none \
    --cdrom "$guest/install.iso" \
    | sed "s|<serial type='pty'>|<serial type='pty'><log file='$vms/$name.serial' append='on'/>|" \
    > "$vms/$name.xml"
done
if [ "$(id -u)" -eq 0 ]; then chown -R domkit-lab: "$vms"; fi

# Step 1's rule, and the documented Makefile (README, domkit(7)) for step 3.
cat > "$vms/start.mk" <<'EOF'
%.started: %.xml
	dom-define $< >/dev/null
	domxml-rewrite --to install $< | dom-create --resume > $@
EOF
cat > "$vms/Makefile" <<'EOF'
.SECONDARY:
%.installed: %.xml
	dom-define $< >/dev/null
	domxml-rewrite --to install $< | dom-create --resume | dom-wait-shutdown --timeout 3600 --idle-timeout 600 >/dev/null
	dom-create --resume $* >/dev/null
	touch $@
EOF

say "1. starting $n installers (make -j$n)..."
t0=$(now)
make -s -j"$n" -C "$vms" -f start.mk "${names[@]/%/.started}" >/dev/null
t1=$(now)
say "2. one dom-wait-shutdown for $n installs..."
cat "$vms"/*.started > "$vms/all.records"
# A stall or failure is part of the result: report it instead of stopping here.
wait_rc=0
/usr/bin/time -f '%e %M %U %S' -o "$vms/wait.time" \
  dom-wait-shutdown --timeout 3600 --idle-timeout 600 < "$vms/all.records" > "$vms/installed.records" \
  || wait_rc=$?
stalled=$(grep -c '"reason":"stalled"' "$vms/installed.records" || true)
installed=$(grep -c '"reason":"shutdown"' "$vms/installed.records" || true)
t2=$(now)
say "3. make -j$n over the documented Makefile..."
make -s -k -j"$n" -C "$vms" "${names[@]/%/.installed}" >/dev/null 2>&1 \
  || say "3. make failed for some guests (counted below)"
t3=$(now)
say "4. one dom-wait-shutdown for $n final boots..."
/usr/bin/time -f '%e %M %U %S' -o "$vms/final.time" \
  dom-wait-shutdown --timeout 3600 --idle-timeout 600 "${names[@]}" > "$vms/final.records" \
  || say "4. the final boots' wait failed (counted below)"
t4=$(now)

bad=0
for name in "${names[@]}"; do
  log=$(tr -d '\r' < "$vms/$name.serial")
  runs=$(grep -c 'DOMKIT-INSTALLER: started' <<<"$log" || true)
  last=$(grep 'DOMKIT-' <<<"$log" | tail -n1)
  if [ "$runs" != 1 ] || [ "$last" != "DOMKIT-GUEST: booted from disk" ]; then
    say "$name: $runs installer runs, last line '$last'"
    bad=$((bad + 1))
  fi
done

read -r wall rss user sys < "$vms/wait.time"
read -r fwall frss fuser fsys < "$vms/final.time"
cpu_hour=$(python3 -c "print(f'{($user + $sys) / $wall * 3600:.1f}')")
fmt() { python3 -c "print(f'{$1:.1f}')"; }
echo "## domkit supervision at load: $n guests at once"
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) CPU,"\
  "$(free -g | awk '/^Mem:/ {print $2}') GiB, domain type $domtype$([ "$domtype" = qemu ] && echo ' (TCG)'),"\
  "one private session libvirtd, lab guests of 128 MiB (CD-ROM install, then boot from disk)."
echo
echo "| step | wall |"
echo "|---|---:|"
echo "| 1. \`make -j$n\`: define + start $n installers | $(fmt "$t1 - $t0") s |"
echo "| 2. one \`dom-wait-shutdown\` until all $n installers stopped | $(fmt "$t2 - $t1") s |"
echo "| 3. \`make -j$n\` over the documented Makefile (installer skipped, final config started) | $(fmt "$t3 - $t2") s |"
echo "| 4. one \`dom-wait-shutdown\` until all $n final boots stopped | $(fmt "$t4 - $t3") s |"
echo "| total | $(fmt "$t4 - $t0") s |"
echo
echo "The waiter over $n installs: peak RSS $(fmt "$rss / 1024") MiB, CPU ${user}s user + ${sys}s system"\
  "over ${wall}s, i.e. **${cpu_hour} CPU seconds per hour of waiting** for $n guests."\
  "Over the $n final boots: peak RSS $(fmt "$frss / 1024") MiB, CPU ${fuser}s + ${fsys}s over ${fwall}s."
echo
echo "The install wait exited $wait_rc: $installed of $n installers stopped cleanly (installed),"\
  "$stalled reported stalled (--idle-timeout 600)."
echo
echo "Failures: **$bad** of $n (each guest's serial log must show exactly one installer run"\
  "and then the boot from its own disk)."
[ "$bad" -eq 0 ] || exit 1
