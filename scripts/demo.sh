#!/usr/bin/env bash
# The main job, end to end on the built-in test guest: generate, define the final config,
# run the installer once, wait for it, boot the installed disk. Real libvirtd, real QEMU.
#
# Uses a private, unprivileged libvirtd (tests/lab/libvirtd.sh) in $DOMKIT_DEMO_LAB
# (default /var/tmp/domkit-demo) and the guest built by tests/lab/guest.sh; never the
# system daemon. Prints each tool's JSON record and the guest's serial lines.
set -euo pipefail
cd "$(dirname "$0")/.."

lab=${DOMKIT_DEMO_LAB:-/var/tmp/domkit-demo}
bin=${DOMKIT_BIN:-$(scripts/target-dir.sh)/release}
name=domkit-demo

step() { printf '\n== %s\n' "$*"; }
show() { printf '$ %s\n' "$*" >&2; "$@"; }

tests/lab/libvirtd.sh stop "$lab" >/dev/null 2>&1 || true
rm -rf "$lab"
trap 'tests/lab/libvirtd.sh stop "$lab" >/dev/null 2>&1 || true' EXIT

step "Building the test guest (cached)"
# The guest cache: DOMKIT_GUEST_CACHE, else guest.sh's own (named after a hash of it).
guest=$(dirname "$(tests/lab/guest.sh ${DOMKIT_GUEST_CACHE:+"$DOMKIT_GUEST_CACHE"} | head -n1)")
echo "in $guest"
ls -l "$guest"/install.iso "$guest"/vmlinuz "$guest"/installer.initrd | awk '{print $5, $9}'

step "Starting a private libvirtd in $lab"
export LIBVIRT_DEFAULT_URI
LIBVIRT_DEFAULT_URI=$(tests/lab/libvirtd.sh start "$lab")
domtype=$(tests/lab/libvirtd.sh domtype "$lab")
echo "URI: $LIBVIRT_DEFAULT_URI (domain type $domtype)"

# The guest's disk and serial log live where the lab's unprivileged user can write.
vms="$lab/vms"
mkdir -p "$vms"
truncate -s 64M "$vms/$name.img"
if [ "$(id -u)" -eq 0 ]; then chown -R domkit-lab: "$vms"; fi
serial="$vms/$name.serial.log"

step "1. Generate the guest: the FINAL config, with the install recorded in <metadata>"
show "$bin/domxml-gen" --name "$name" --type "$domtype" --memory 256MiB \
  --disk "$vms/$name.img,format=raw" --serial "file=$serial" --graphics none \
  --cdrom "$guest/install.iso" > "$vms/$name.xml"
echo "--- the install config differs from it in (metadata left out):"
no_metadata() { awk '/<metadata>/,/<\/metadata>/ {next} {print}'; }
diff -U0 <(no_metadata < "$vms/$name.xml") \
  <("$bin/domxml-rewrite" --to install "$vms/$name.xml" | no_metadata) | grep '^[-+] ' || true

step "2. Define the final config first: from now on the guest is safe"
show "$bin/dom-define" "$vms/$name.xml"

step "3. Run the installer once over the defined domain"
printf '$ %s\n' "domxml-rewrite --to install $name.xml | dom-create"
"$bin/domxml-rewrite" --to install "$vms/$name.xml" | "$bin/dom-create"

step "4. Wait for the installer to stop (lifecycle events), and say why"
show "$bin/dom-wait-shutdown" "$name"
echo "--- serial console:"
tr -d '\r' < "$serial" | grep DOMKIT || true

step "5. Boot the installed guest: libvirt kept the final config"
show "$bin/dom-create" "$name"
show "$bin/dom-wait-shutdown" "$name"
echo "--- serial console (appended to, so the installer's line is still there):"
tr -d '\r' < "$serial" | grep DOMKIT || true

if tr -d '\r' < "$serial" | grep -q 'DOMKIT-GUEST: booted from disk'; then
  step "Done: installed once, then booted from its own disk."
else
  echo "demo: the installed guest did not report booting from its disk" >&2
  exit 1
fi
