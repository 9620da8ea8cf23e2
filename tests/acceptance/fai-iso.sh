#!/usr/bin/env bash
# Builds an offline Debian 12 install CD with FAI from Debian packages, cached in OUTDIR.
#
# Usage: tests/acceptance/fai-iso.sh OUTDIR
#   Prints OUTDIR/fai-debian12.iso. Rebuilds only when an input changed: the FAI config
#   space (tests/acceptance/fai/config), this script, the installed FAI version and the mirror.
#   The FAI "NFSROOT" (the live system the CD boots, ~2.5 min to make) is cached on its
#   own, so a change to the config space only re-runs fai-mirror and fai-cd (~30 s).
#   Run as root (fai-make-nfsroot and fai-cd chroot and mount); packages come from
#   scripts/deps-acceptance.sh.
#
# Outputs, all world-readable (a lab daemon running as another user boots them in place):
#   OUTDIR/fai-debian12.iso  the CD (volume id FAI_CD): its GRUB menu boots the FAI
#                            installer after 1 s, with CMDLINE below. The installer
#                            partitions the first disk (one ext4 partition), installs
#                            Debian 12 from the partial mirror on the CD, and reboots.
#                            The installed system prints
#                              DOMKIT-ACCEPTANCE: booted from disk (KERNEL, HOSTNAME)
#                            on ttyS0 on every boot, then powers off.
#   OUTDIR/cmdline           CMDLINE, for a direct-kernel install from the same CD (its
#                            kernel and initrd are /boot/vmlinuz and /boot/initrd.img).
#   OUTDIR/inputs            what the cached CD was built from.
#   OUTDIR/build.log         the last build's output.
#
# The mirror: the one this machine's apt uses (DOMKIT_DEBIAN_MIRROR, default: the first
# .../debian URI in /etc/apt/sources.list.d/debian.sources, else deb.debian.org), main
# only. FAI's NFSROOT package list is its own minus the non-free firmware, and FAI's
# package repository is left out: only Debian's own mirror is used.
set -euo pipefail

readonly ISO_NAME=fai-debian12.iso
readonly SUITE=bookworm
# The installer's kernel command line: no menu, no extra virtual terminals, reboot at the
# end (the install config has <on_reboot>destroy</on_reboot>, so that stops the guest),
# everything on the serial console. No ip=: the guest needs no network, the CD has it all.
readonly CMDLINE='FAI_FLAGS=verbose,reboot FAI_ACTION=install FAI_CONFIG_SRC=file:///var/lib/fai/config rd.live.image root=live:CDLABEL=FAI_CD hostname=domkit-fai console=ttyS0,115200n8'
# The classes the install uses (see tests/acceptance/fai/config/class/): fai-mirror fetches
# the packages of these.
readonly CLASSES='DEFAULT,LINUX,AMD64,DHCPC,FAIBASE,DEBIAN,DOMKIT,GRUB_PC,LAST'

die() { printf 'fai-iso.sh: %s\n' "$*" >&2; exit 1; }
usage() { printf 'usage: %s OUTDIR\n' "$0" >&2; exit 2; }

[ "$#" -eq 1 ] && [ -n "$1" ] || usage
case "$1" in -*) usage ;; esac
here=$(cd "$(dirname "$0")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
configspace="$repo/tests/acceptance/fai/config"
outdir=$(realpath -m -- "$1")

[ -d "$configspace/class" ] || die "no FAI config space in $configspace"
[ "$(id -u)" -eq 0 ] || die "run as root: fai-make-nfsroot and fai-cd chroot and mount"
for tool in fai-make-nfsroot fai-mirror fai-cd mksquashfs xorriso reprepro mformat; do
  command -v "$tool" >/dev/null || die "missing $tool (run scripts/deps-acceptance.sh)"
done

# --- the mirror ----------------------------------------------------------------
host_uri() {  # host_uri SUFFIX: the first URI in the host's deb822 sources ending in SUFFIX
  awk -v s="$1" '$1 == "URIs:" { for (i = 2; i <= NF; i++) if ($i ~ s "/?$") { print $i; exit } }' \
    /etc/apt/sources.list.d/debian.sources 2>/dev/null || true
}
mirror=${DOMKIT_DEBIAN_MIRROR:-$(host_uri '/debian')}
mirror=${mirror:-http://deb.debian.org/debian}
security=${DOMKIT_DEBIAN_SECURITY:-$(host_uri '/debian-security')}
security=${security:-http://deb.debian.org/debian-security}

# --- FAI's own configuration (what /etc/fai holds), private to this build ------------
mkdir -p "$outdir"
chmod 0755 "$outdir"
cfdir="$outdir/etc-fai"
nfsroot="$outdir/nfsroot"
rm -rf "$cfdir"
mkdir -p "$cfdir/apt"
cp -a /etc/fai/apt/trusted.gpg.d "$cfdir/apt/" 2>/dev/null || mkdir -p "$cfdir/apt/trusted.gpg.d"
cat > "$cfdir/fai.conf" <<EOF
# written by tests/acceptance/fai-iso.sh
FAI_CONFIGDIR=$configspace
EOF
cat > "$cfdir/nfsroot.conf" <<EOF
# written by tests/acceptance/fai-iso.sh
FAI_DEBOOTSTRAP="$SUITE $mirror"
FAI_ROOTPW='!'
NFSROOT=$nfsroot
TFTPROOT=$outdir/tftp
NFSROOT_HOOKS=
FAI_DEBOOTSTRAP_OPTS=
EOF
cat > "$cfdir/apt/sources.list" <<EOF
# written by tests/acceptance/fai-iso.sh: the reachable Debian mirror only, main only
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb $security $SUITE-security main
EOF
# FAI's NFSROOT package list without the non-free firmware section.
awk '/^PACKAGES/ { skip = ($NF == "NONFREE") } !skip' /etc/fai/NFSROOT > "$cfdir/NFSROOT"
grep -q 'firmware-' "$cfdir/NFSROOT" && die "non-free firmware left in $cfdir/NFSROOT"

# The CD's GRUB menu: one entry, booted after 1 s. This GRUB has no serial module
# (fai-cd's module list), so nobody could answer a menu on the serial console anyway.
cat > "$cfdir/grub.cfg" <<EOF
# written by tests/acceptance/fai-iso.sh
set default=0
set timeout=1
menuentry "domkit acceptance: install Debian 12 unattended (FAI)" {
    search --set=root --file /FAI-CD
    linux   /boot/vmlinuz $CMDLINE
    initrd  /boot/initrd.img
}
EOF

# --- cache keys: the files that make each part ----------------------------------------
fai_version=$(dpkg-query -W -f='${Version}' fai-server)
nfsroot_inputs=$( (printf 'fai %s\n' "$fai_version"
  cd "$cfdir" && sha256sum NFSROOT nfsroot.conf apt/sources.list) | sha256sum | cut -d' ' -f1)
config_inputs=$( (cd "$configspace" && find . -type f -print0 | LC_ALL=C sort -z \
  | xargs -0 sha256sum; find . -type f -perm -u+x | LC_ALL=C sort
  cd "$cfdir" && sha256sum fai.conf grub.cfg) | sha256sum | cut -d' ' -f1)
iso_inputs=$(printf 'nfsroot %s\nconfig %s\n' "$nfsroot_inputs" "$config_inputs")

if [ -s "$outdir/$ISO_NAME" ] && [ "$(cat "$outdir/inputs" 2>/dev/null)" = "$iso_inputs" ]; then
  printf '%s\n' "$outdir/$ISO_NAME"
  exit 0
fi

log="$outdir/build.log"
: > "$log"
started=$(date +%s)
note() { printf 'fai-iso.sh: %s (%ss)\n' "$*" "$(( $(date +%s) - started ))" | tee -a "$log" >&2; }

# --- the NFSROOT (cached on its own) -------------------------------------------------
if [ -d "$nfsroot/boot" ] && [ "$(cat "$outdir/nfsroot.inputs" 2>/dev/null)" = "$nfsroot_inputs" ]; then
  note "NFSROOT cached in $nfsroot"
else
  note "fai-make-nfsroot (a few minutes)"
  rm -f "$outdir/nfsroot.inputs"
  fai-make-nfsroot -v -f -C "$cfdir" >> "$log" 2>&1 \
    || die "fai-make-nfsroot failed; see $log and /var/log/fai/fai-make-nfsroot.log"
  printf '%s\n' "$nfsroot_inputs" > "$outdir/nfsroot.inputs"
fi

# --- the partial mirror and the CD -----------------------------------------------
note "fai-mirror (classes $CLASSES)"
rm -rf "$outdir/mirror"
fai-mirror -v -C "$cfdir" -c "$CLASSES" "$outdir/mirror" >> "$log" 2>&1 \
  || die "fai-mirror failed; see $log"

note "fai-cd"
tmpiso="$outdir/$ISO_NAME.tmp"
rm -f "$tmpiso"
fai-cd -f -C "$cfdir" -g "$cfdir/grub.cfg" -m "$outdir/mirror" "$tmpiso" >> "$log" 2>&1 \
  || die "fai-cd failed; see $log"
chmod 0644 "$tmpiso"
mv -f "$tmpiso" "$outdir/$ISO_NAME"
printf '%s\n' "$CMDLINE" > "$outdir/cmdline"
printf '%s\n' "$iso_inputs" > "$outdir/inputs"
chmod 0644 "$outdir/cmdline" "$outdir/inputs" "$log"
rm -rf "$outdir/mirror" "$outdir/tftp"
note "built $outdir/$ISO_NAME ($(du -h "$outdir/$ISO_NAME" | cut -f1))"
printf '%s\n' "$outdir/$ISO_NAME"
