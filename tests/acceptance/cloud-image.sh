#!/usr/bin/env bash
# Builds a small Debian 12 cloud image (cloud-init, the cloud kernel) with mmdebstrap, cached in OUTDIR.
#
# Usage: tests/acceptance/cloud-image.sh OUTDIR
#        tests/acceptance/cloud-image.sh --print-command OUTDIR
#   Prints OUTDIR/debian12-cloud.img. Rebuilds only when an input changed (this script,
#   tests/acceptance/cloud/customize.sh, the mirror, the mmdebstrap version).
#   --print-command prints the mmdebstrap command line, one argument a line, and builds
#   nothing (make check tests it without downloading anything).
#   Run as root (mmdebstrap's root mode; the image's files keep their owners).
#
# The image (raw, 2 GiB, sparse; world-readable: copy it before booting it):
#   MBR (SYSLINUX's mbr.bin), partition 1: FAT, bootable, SYSLINUX with the kernel and
#   initrd (root=/dev/vda2 console=ttyS0); partition 2: ext4, the root made by mmdebstrap
#   (minbase + systemd, udev, linux-image-cloud-amd64, cloud-init), written with
#   mkfs.ext4 -d. No loop device, no mount. The kernel on partition 1 is the one the image
#   was built with (apt inside the guest does not update it): a test image, not a product.
#   cloud-init looks for a NoCloud seed (volume label cidata) only. Every boot from disk
#   prints one line on ttyS0 and powers off:
#     DOMKIT-CLOUD: boot N from disk; seed attached|absent; runcmd has run M time(s);
#       cloud-init status: S; instances: IDS
#   (tests/acceptance/cloud/customize.sh).
set -euo pipefail

readonly IMAGE=debian12-cloud.img
readonly SUITE=bookworm
readonly DISK_MIB=2048
readonly BOOT_START_MIB=1
readonly BOOT_MIB=127
readonly ROOT_START_MIB=$((BOOT_START_MIB + BOOT_MIB))
readonly APPEND='root=/dev/vda2 ro console=ttyS0,115200n8'
readonly PACKAGES='systemd-sysv,udev,e2fsprogs,linux-image-cloud-amd64,cloud-init'

die() { printf 'cloud-image.sh: %s\n' "$*" >&2; exit 1; }
usage() { printf 'usage: %s [--print-command] OUTDIR\n' "$0" >&2; exit 2; }

print_only=0
if [ "${1:-}" = --print-command ]; then
  print_only=1
  shift
fi
[ "$#" -eq 1 ] && [ -n "$1" ] || usage
case "$1" in -*) usage ;; esac
here=$(cd "$(dirname "$0")" && pwd -P)
customize="$here/cloud/customize.sh"
outdir=$(realpath -m -- "$1")
[ -x "$customize" ] || die "missing $customize"

host_uri() {  # host_uri SUFFIX: the first URI in the host's deb822 sources ending in SUFFIX
  awk -v s="$1" '$1 == "URIs:" { for (i = 2; i <= NF; i++) if ($i ~ s "/?$") { print $i; exit } }' \
    /etc/apt/sources.list.d/debian.sources 2>/dev/null || true
}
mirror=${DOMKIT_DEBIAN_MIRROR:-$(host_uri '/debian')}
mirror=${mirror:-http://deb.debian.org/debian}

# mmdebstrap_args ROOTDIR: the command that makes the image's root in ROOTDIR.
mmdebstrap_args() {
  printf '%s\n' mmdebstrap --mode=root --variant=minbase --components=main \
    --include="$PACKAGES" \
    --aptopt='Apt::Install-Recommends "false"' \
    --dpkgopt=force-unsafe-io \
    --customize-hook="$customize" \
    "$SUITE" "$1" "deb $mirror $SUITE main"
}

if [ "$print_only" -eq 1 ]; then
  mmdebstrap_args "$outdir/root"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || die "run as root (mmdebstrap --mode=root)"
for tool in mmdebstrap mkfs.ext4 mkfs.vfat syslinux mcopy sfdisk; do
  command -v "$tool" >/dev/null || die "missing $tool (run scripts/deps-acceptance.sh)"
done
readonly MBR_BIN=/usr/lib/syslinux/mbr/mbr.bin
[ -r "$MBR_BIN" ] || die "missing $MBR_BIN (syslinux-common)"

inputs=$( (sha256sum "$0" "$customize"; printf '%s\n' "$mirror"
  dpkg-query -W -f='${Version}\n' mmdebstrap) | sha256sum | cut -d' ' -f1)
if [ -s "$outdir/$IMAGE" ] && [ "$(cat "$outdir/inputs" 2>/dev/null)" = "$inputs" ]; then
  printf '%s\n' "$outdir/$IMAGE"
  exit 0
fi

mkdir -p "$outdir"
chmod 0755 "$outdir"
log="$outdir/build.log"
: > "$log"
work=$(mktemp -d "$outdir/build.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
started=$(date +%s)
note() { printf 'cloud-image.sh: %s (%ss)\n' "$*" "$(( $(date +%s) - started ))" | tee -a "$log" >&2; }

# --- the root file system --------------------------------------------------------
note "mmdebstrap ($PACKAGES)"
mapfile -t cmd < <(mmdebstrap_args "$work/root")
"${cmd[@]}" >> "$log" 2>&1 || die "mmdebstrap failed; see $log"
kernel=$(find "$work/root/boot" -maxdepth 1 -name 'vmlinuz-*' | sort | tail -n1)
initrd=$(find "$work/root/boot" -maxdepth 1 -name 'initrd.img-*' | sort | tail -n1)
[ -n "$kernel" ] && [ -n "$initrd" ] || die "no kernel or initrd in the image's /boot"

# --- partition 1: FAT with SYSLINUX, the kernel and initrd --------------------------
note "boot partition (SYSLINUX)"
boot="$work/boot.img"
truncate -s "${BOOT_MIB}M" "$boot"
mkfs.vfat -n DOMKITBOOT "$boot" >> "$log"
cat > "$work/syslinux.cfg" <<EOF
DEFAULT debian
PROMPT 0
TIMEOUT 0
LABEL debian
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND $APPEND
EOF
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"
mcopy -i "$boot" "$work/syslinux.cfg" "$work/vmlinuz" "$work/initrd.img" ::/

# --- partition 2: ext4 made from the root directory ------------------------------
note "root partition (mkfs.ext4 -d)"
rootfs="$work/root.img"
truncate -s "$((DISK_MIB - ROOT_START_MIB))M" "$rootfs"
mkfs.ext4 -q -L domkit-root -d "$work/root" "$rootfs" >> "$log" 2>&1 || die "mkfs.ext4 failed; see $log"

# --- the disk ------------------------------------------------------------------
note "disk (MBR, two partitions)"
disk="$work/$IMAGE"
truncate -s "${DISK_MIB}M" "$disk"
sfdisk -q "$disk" >> "$log" <<EOF
label: dos
start=${BOOT_START_MIB}MiB, size=${BOOT_MIB}MiB, type=e, bootable
start=${ROOT_START_MIB}MiB, type=83
EOF
dd if="$MBR_BIN" of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$boot" of="$disk" bs=1M seek="$BOOT_START_MIB" conv=notrunc,sparse status=none
dd if="$rootfs" of="$disk" bs=1M seek="$ROOT_START_MIB" conv=notrunc,sparse status=none
# SYSLINUX's boot sector and ldlinux.sys, told where the partition starts.
syslinux --install --offset $((BOOT_START_MIB * 1024 * 1024)) "$disk"

chmod 0644 "$disk"
mv -f "$disk" "$outdir/$IMAGE"
printf '%s\n' "$inputs" > "$outdir/inputs"
chmod 0644 "$outdir/inputs" "$log"
note "built $outdir/$IMAGE"
printf '%s\n' "$outdir/$IMAGE"
