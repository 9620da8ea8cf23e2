#!/usr/bin/env bash
# Builds domkit's tiny two-phase test guest (installer + installed disk) from Debian packages, cached in OUTDIR.
#
# Usage: tests/lab/guest.sh [OUTDIR]
#   Prints the output paths, one a line. Without OUTDIR the cache is
#   /var/tmp/domkit-guest-HASH, HASH the first 8 hex digits of this script's SHA-256: a
#   changed script builds a new guest, and checkouts of older scripts keep theirs.
#   If OUTDIR already holds a complete build it only prints them. Otherwise it builds into OUTDIR.tmp.* next to it and renames that to
#   OUTDIR in one step, so OUTDIR is either absent or complete (parallel runs are safe).
#   Needs: apt-get download access to a Debian 12 mirror (for shim-signed and
#   grub-efi-amd64-signed, and the kernel unless DOMKIT_KERNEL_DEB=/path/to/
#   linux-image-*-cloud-amd64*.deb), busybox-static, syslinux, syslinux-common, isolinux,
#   mtools, xorriso, cpio. Root is not needed. Everything is world-readable, so a lab
#   daemon running as another user (tests/lab/libvirtd.sh) can use the files in place.
#
# Outputs (see also OUTDIR/README):
#   vmlinuz           Debian's cloud kernel (linux-image-*-cloud-amd64, not installed on
#                     the host: apt-get download + dpkg-deb -x).
#   installer.initrd  busybox initramfs (cpio newc, gzip). /init loads virtio_pci and
#                     virtio_blk, waits for /dev/vda, writes disk.img onto it, syncs, prints
#                       DOMKIT-INSTALLER: disk written
#                     on ttyS0 and reboots (reboot -f): an install config with
#                     <on_reboot>destroy</on_reboot> then stops. On error it prints
#                       DOMKIT-INSTALLER: FAILED <why>
#                     and powers off (poweroff -f).
#   install.iso       isolinux CD that boots vmlinuz + installer.initrd, no prompt.
#   menu.iso          the same CD (BIOS only) stopping at ISOLINUX's "boot:" prompt, also
#                     shown on ttyS0, until a key is typed (dom-send-keys): "install ARGS"
#                     boots the installer with ARGS appended to its command line.
#   disk.img          what the installer writes (for reference): a FAT superfloppy with
#                     SYSLINUX, vmlinuz and guest.initrd, whose /init prints
#                       DOMKIT-GUEST: booted from disk
#                     on ttyS0 and powers off (poweroff -f).
#   guest.initrd      the disk's initrd.
#   cmdline           the kernel command line to use for a direct-kernel install.
# Kernel command-line switches understood by both inits, for failure tests:
#   domkit.fail    the init prints its FAILED line and powers off
#   domkit.crash   the init panics the kernel (echo c > /proc/sysrq-trigger); with
#                  <panic model='isa'/> and <on_crash>destroy</on_crash> libvirt reports
#                  the guest as crashed
# and by the installer only (direct-kernel installs, where the domain XML sets the
# command line), for supervision tests:
#   domkit.reboots=N  reboot N times before installing, as Windows or a UEFI shim do:
#                  each boot prints "DOMKIT-INSTALLER: boot K" and the boots are counted
#                  in the last 512 bytes of /dev/vda; boot N+1 installs (the disk image
#                  overwrites the counter) and reboots as usual
#   domkit.hang    print "DOMKIT-INSTALLER: waiting for an answer" and wait forever
#                  without disk or network I/O, like an installer asking a question
#   domkit.say=W   print "DOMKIT-INSTALLER: said W" (what was typed at menu.iso's prompt)
# Every installer boot first prints "DOMKIT-INSTALLER: started" (count installer runs in
# a serial log kept with <log append='on'/>).
# Answers from outside, for dom-media's tests: once /dev/vda is there the installer prints
#   DOMKIT-INSTALLER: injected: <the first 200 bytes of /domkit-message>
# when a file was injected at /domkit-message (dom-media inject), and
#   DOMKIT-INSTALLER: answer on <device>: <the first 200 bytes of answer.txt>
# when a volume labelled DOMKIT_ANSWER is attached (dom-media image; ISO 9660 on a virtio
# disk: the cloud kernel has no AHCI driver for a q35 CD-ROM).
# UEFI (OVMF): disk.img and install.iso (an El Torito EFI image) also boot through
# Debian's signed shim and GRUB (EFI/BOOT/BOOTX64.EFI), so a UEFI guest installs from the
# CD and boots from the disk too. Under UEFI the installer prints
#   DOMKIT-INSTALLER: UEFI, install variable absent|present
# and then writes the EFI variable DomkitInstalled-6e1d0c9a-8d3c-4c5e-9a61-646f6d6b6974
# (non-volatile) into the guest's NVRAM; the installed guest prints
#   DOMKIT-GUEST: UEFI, install variable present|absent
# before its boot line: whether the NVRAM was kept from the install (or reset since).
# Both first print "...: UEFI, secure boot on|off, TPM present|absent".
# Domains need <features><acpi/></features> (otherwise poweroff halts instead), a serial
# port 0, and the target disk on bus virtio (/dev/vda), at least 32 MiB.
set -euo pipefail

# no_timer_check: with many TCG guests on few cores a starved guest fails Linux's IO-APIC
# timer check and panics ("IO-APIC + timer doesn't work!"): 67 of 100 at once did here.
readonly CMDLINE='console=ttyS0 quiet loglevel=3 no_timer_check'
readonly OUTPUTS=(vmlinuz installer.initrd install.iso menu.iso disk.img guest.initrd cmdline README)

die() { printf 'guest.sh: %s\n' "$*" >&2; exit 1; }

case "$#" in
  0) outdir=/var/tmp/domkit-guest-$(sha256sum < "$0" | cut -c1-8) ;;
  1) [ -n "$1" ] || { printf 'usage: %s [OUTDIR]\n' "$0" >&2; exit 2; }; outdir="$1" ;;
  *) printf 'usage: %s [OUTDIR]\n' "$0" >&2; exit 2 ;;
esac

print_outputs() {
  local f
  for f in vmlinuz installer.initrd install.iso; do
    printf '%s/%s\n' "$outdir" "$f"
  done
}

complete() {
  local dir="$1" f
  [ -f "$dir/.complete" ] || return 1
  for f in "${OUTPUTS[@]}"; do
    [ -s "$dir/$f" ] || return 1
  done
}

outdir=$(realpath -m -- "$outdir")
if complete "$outdir"; then
  print_outputs
  exit 0
fi

for tool in busybox syslinux mformat mmd mcopy xorriso cpio dpkg-deb gzip; do
  command -v "$tool" >/dev/null || die "missing $tool (run scripts/deps.sh)"
done
readonly BUSYBOX=/bin/busybox
readonly ISOLINUX_BIN=/usr/lib/ISOLINUX/isolinux.bin
readonly LDLINUX_C32=/usr/lib/syslinux/modules/bios/ldlinux.c32
for f in "$ISOLINUX_BIN" "$LDLINUX_C32"; do
  [ -r "$f" ] || die "missing $f (isolinux / syslinux-common)"
done
# The initramfs needs a static busybox: it has no libc.
if ldd "$BUSYBOX" >/dev/null 2>&1; then
  die "$BUSYBOX is dynamically linked: install busybox-static"
fi

parent=$(dirname -- "$outdir")
mkdir -p -- "$parent"
work=$(mktemp -d -- "$outdir.tmp.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
out="$work/out"
mkdir -p "$out"

# --- the kernel --------------------------------------------------------------
# fetch_deb PACKAGE: downloads PACKAGE's .deb into $work/deb and prints its path.
fetch_deb() {
  mkdir -p "$work/deb"
  # As root apt drops to _apt to download, which cannot write into our private temp dir.
  (cd "$work/deb" && apt-get download -q=2 -o APT::Sandbox::User="$(id -un)" "$1" >/dev/null) \
    || die "apt-get download $1 failed"
  find "$work/deb" -name "$1_*.deb" | head -n1
}

deb="${DOMKIT_KERNEL_DEB:-}"
if [ -z "$deb" ]; then
  pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null \
    | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-cloud-amd64$/ { print $2; exit }')
  [ -n "$pkg" ] || die "cannot resolve linux-image-cloud-amd64 (apt-get update?)"
  deb=$(fetch_deb "$pkg")
fi
[ -r "$deb" ] || die "no kernel package: $deb"
dpkg-deb -x "$deb" "$work/kernel"
kver=$(basename "$(find "$work/kernel/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n1)")
[ -n "$kver" ] || die "no modules in $deb"
cp "$work/kernel/boot/vmlinuz-$kver" "$out/vmlinuz"
kconfig="$work/kernel/boot/config-$kver"
moddir="$work/kernel/lib/modules/$kver"

# UEFI boot files, secure boot included: shim (signed by Microsoft's UEFI CA, which OVMF's
# secure-boot NVRAM template enrols) loads GRUB (signed by Debian), which boots Debian's
# signed kernel. Both from Debian packages, not installed on the host.
efi_debs="$work/efi-debs"
for pkg in shim-signed grub-efi-amd64-signed; do
  dpkg-deb -x "$(fetch_deb "$pkg")" "$efi_debs"
done
readonly SHIM="$efi_debs/usr/lib/shim/shimx64.efi.signed"
readonly GRUB="$efi_debs/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"
[ -r "$SHIM" ] && [ -r "$GRUB" ] || die "no shimx64.efi.signed / grubx64.efi.signed"

# efi_tree DIR INITRD: EFI/BOOT with shim as BOOTX64.EFI, GRUB beside it (shim's default
# loader) and a grub.cfg there (where Debian's signed GRUB reads it, its $cmdpath) that
# boots /vmlinuz with INITRD from the device holding them, at once.
efi_tree() {
  mkdir -p "$1/EFI/BOOT"
  cp "$SHIM" "$1/EFI/BOOT/BOOTX64.EFI"
  cp "$GRUB" "$1/EFI/BOOT/grubx64.efi"
  cat > "$1/EFI/BOOT/grub.cfg" <<EOF
set timeout=0
search --file --set=root $2
linux /vmlinuz $CMDLINE
initrd $2
boot
EOF
}

# modules_for NAME...: the .ko paths to insmod, dependencies first, for modules that are
# not built in (CONFIG_...=y). The deb ships no modules.dep: read each .modinfo's depends=.
declare -A seen=()
modlist=()
add_module() {
  local name="$1" file deps dep
  [ -z "${seen[$name]:-}" ] || return 0
  seen[$name]=1
  # Module names use "_", file names either "_" or "-".
  local dashed="${name//_/-}"
  if grep -Eq "/($name|$dashed)\.ko\$" "$moddir/modules.builtin" 2>/dev/null; then
    return 0
  fi
  file=$(find "$moddir/kernel" \( -name "$name.ko*" -o -name "$dashed.ko*" \) | head -n1)
  [ -n "$file" ] || die "module $name not found in $kver"
  case "$file" in *.ko) ;; *) die "compressed module $file: not supported by busybox insmod here" ;; esac
  deps=$(tr '\0' '\n' < "$file" | sed -n 's/^depends=//p' | head -n1)
  for dep in ${deps//,/ }; do
    add_module "$dep"
  done
  modlist+=("$file")
}
for m in virtio_pci virtio_blk pvpanic_mmio efivarfs isofs; do
  add_module "$m"
done
grep -q '^CONFIG_SERIAL_8250_CONSOLE=y' "$kconfig" || die "$kver: no built-in 8250 serial console"
grep -q '^CONFIG_DEVTMPFS=y' "$kconfig" || die "$kver: no devtmpfs"

# --- busybox initramfs skeletons ---------------------------------------------
# make_root DIR: busybox and the directories /init needs. Device nodes cannot be made
# without root: /init mounts devtmpfs and reopens the console itself.
make_root() {
  local root="$1"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,lib/modules}
  cp "$BUSYBOX" "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
}

# Common start of both inits.
init_head='#!/bin/sh
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
say() { echo "$*" > /dev/ttyS0; }
# Under UEFI: the NVRAM as files, and the variable the installer leaves there.
efivar=/sys/firmware/efi/efivars/DomkitInstalled-6e1d0c9a-8d3c-4c5e-9a61-646f6d6b6974
efi=
if [ -d /sys/firmware/efi ]; then
  efi=1
  if [ -e /lib/modules/efivarfs.ko ]; then insmod /lib/modules/efivarfs.ko; fi
  mount -t efivarfs efivarfs /sys/firmware/efi/efivars || echo "no efivarfs"
  if [ -e "$efivar" ]; then efistate=present; else efistate=absent; fi
  # SecureBoot (EFI global variable): attributes, then 1 when enforcing.
  sbvar=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
  secureboot=off
  if [ -e "$sbvar" ] && [ "$(tail -c 1 "$sbvar" | od -An -tu1 | tr -d " ")" = 1 ]; then
    secureboot=on
  fi
  if [ -e /sys/class/tpm/tpm0 ]; then tpm=present; else tpm=absent; fi
  efireport="UEFI, secure boot $secureboot, TPM $tpm"
fi
for m in $(cat /lib/modules/order); do
  insmod "/lib/modules/$m" || echo "insmod $m failed"
done
# After insmod: pvpanic must be loaded to report the panic to the host.
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    domkit.crash) echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger ;;
  esac
done
'

# make_cpio ROOT OUT: gzip-compressed newc archive of ROOT, owned by root, sorted.
make_cpio() {
  (cd "$1" && find . -mindepth 1 | LC_ALL=C sort \
    | cpio --quiet -o -H newc --owner=0:0 --reproducible) | gzip -9 -n > "$2"
}

# --- the installed guest: its initrd and the disk image ----------------------
groot="$work/guest-root"
make_root "$groot"
: > "$groot/lib/modules/order"
for f in "${modlist[@]}"; do
  case "$(basename "$f")" in
    pvpanic*) cp "$f" "$groot/lib/modules/"; basename "$f" >> "$groot/lib/modules/order" ;;
    efivarfs*) cp "$f" "$groot/lib/modules/" ;;
  esac
done
{
  printf '%s' "$init_head"
  cat <<'EOF'
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    domkit.fail) say "DOMKIT-GUEST: FAILED requested by domkit.fail"; sync; poweroff -f ;;
  esac
done
if [ -n "$efi" ]; then
  say "DOMKIT-GUEST: $efireport"
  say "DOMKIT-GUEST: UEFI, install variable $efistate"
fi
say "DOMKIT-GUEST: booted from disk"
sync
poweroff -f
EOF
} > "$groot/init"
chmod 0755 "$groot/init"
make_cpio "$groot" "$out/guest.initrd"

# FAT "superfloppy" (no partition table): SeaBIOS runs its boot sector, SYSLINUX's; OVMF
# reads the FAT file system on the whole disk and runs EFI/BOOT/BOOTX64.EFI, shim, then
# GRUB, which boots the same kernel and initrd.
kib=$(( ( $(stat -c %s "$out/vmlinuz") + $(stat -c %s "$out/guest.initrd") \
  + $(stat -c %s "$SHIM") + $(stat -c %s "$GRUB") ) / 1024 + 1024 ))
mib=$(( (kib + 1023) / 1024 ))
truncate -s "${mib}M" "$work/disk.img"
mformat -i "$work/disk.img" -T $(( mib * 2048 )) -h 64 -s 32 -v DOMKIT -N 444f4d4b ::
syslinux --install "$work/disk.img"
cat > "$work/syslinux.cfg" <<EOF
DEFAULT guest
PROMPT 0
TIMEOUT 0
LABEL guest
  KERNEL /vmlinuz
  INITRD /guest.initrd
  APPEND $CMDLINE
EOF
mcopy -i "$work/disk.img" "$work/syslinux.cfg" "$out/vmlinuz" "$out/guest.initrd" ::/
efi_tree "$work/disk-efi" /guest.initrd
mcopy -s -i "$work/disk.img" "$work/disk-efi/EFI" ::/
mv "$work/disk.img" "$out/disk.img"

# --- the installer initrd ------------------------------------------------------
iroot="$work/installer-root"
make_root "$iroot"
: > "$iroot/lib/modules/order"
for f in "${modlist[@]}"; do
  cp "$f" "$iroot/lib/modules/"
  case "$(basename "$f")" in
    efivarfs*) ;;
    *) basename "$f" >> "$iroot/lib/modules/order" ;;
  esac
done
cp "$out/disk.img" "$iroot/disk.img"
{
  printf '%s' "$init_head"
  cat <<'EOF'
fail() { say "DOMKIT-INSTALLER: FAILED $*"; sync; poweroff -f; }
say "DOMKIT-INSTALLER: started"
reboots=0
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    domkit.fail) fail "requested by domkit.fail" ;;
    domkit.hang) say "DOMKIT-INSTALLER: waiting for an answer"; while :; do sleep 3600; done ;;
    domkit.reboots=*) reboots=${arg#domkit.reboots=} ;;
    domkit.say=*) say "DOMKIT-INSTALLER: said ${arg#domkit.say=}" ;;
  esac
done
# Wait for the target disk, 20 s at most.
tries=200
while [ ! -b /dev/vda ]; do
  tries=$((tries - 1))
  [ "$tries" -gt 0 ] || fail "no /dev/vda (virtio disk) after 20 s"
  usleep 100000
done
if [ -f /domkit-message ]; then
  say "DOMKIT-INSTALLER: injected: $(head -c 200 /domkit-message)"
fi
if answer=$(findfs LABEL=DOMKIT_ANSWER 2>/dev/null); then
  mkdir -p /answer
  mount -r -t iso9660 "$answer" /answer || fail "cannot mount $answer (DOMKIT_ANSWER)"
  say "DOMKIT-INSTALLER: answer on $answer: $(head -c 200 /answer/answer.txt)"
  umount /answer
fi
size=$(blockdev --getsize64 /dev/vda) || fail "cannot size /dev/vda"
if [ "$reboots" -gt 0 ]; then
  # The boot counter lives in the disk's last sector: RAM does not survive a reset.
  last=$((size / 512 - 1))
  boot=$(dd if=/dev/vda bs=512 skip="$last" count=1 2>/dev/null | tr -dc 0-9 | head -c 4)
  boot=$(( ${boot:-0} + 1 ))
  say "DOMKIT-INSTALLER: boot $boot"
  if [ "$boot" -le "$reboots" ]; then
    printf '%s' "$boot" | dd of=/dev/vda bs=512 seek="$last" conv=sync,fsync 2>/dev/null \
      || fail "writing the boot counter"
    sync
    reboot -f
  fi
  # Installing now: clear the counter so a reinstall starts again from boot 1.
  dd if=/dev/zero of=/dev/vda bs=512 seek="$last" count=1 conv=fsync 2>/dev/null || true
fi
[ "$size" -ge "$(stat -c %s /disk.img)" ] || fail "/dev/vda too small ($size bytes)"
dd if=/disk.img of=/dev/vda bs=1M conv=fsync 2>/dev/null || fail "writing /dev/vda"
sync
blockdev --flushbufs /dev/vda || true
if [ -n "$efi" ]; then
  say "DOMKIT-INSTALLER: $efireport"
  say "DOMKIT-INSTALLER: UEFI, install variable $efistate"
  # An efivarfs file is written in one write(): 4 bytes of attributes (non-volatile,
  # boot service and runtime access), then the value.
  printf '\007\000\000\000installed' > /tmp/efivar
  dd if=/tmp/efivar of="$efivar" bs=64 2>/dev/null || fail "writing the EFI variable"
fi
say "DOMKIT-INSTALLER: disk written"
reboot -f
fail "reboot -f returned"
EOF
} > "$iroot/init"
chmod 0755 "$iroot/init"
make_cpio "$iroot" "$out/installer.initrd"

# --- the install CD --------------------------------------------------------------
iso="$work/iso"
mkdir -p "$iso/isolinux"
cp "$ISOLINUX_BIN" "$LDLINUX_C32" "$iso/isolinux/"
cat > "$iso/isolinux/isolinux.cfg" <<EOF
DEFAULT install
PROMPT 0
TIMEOUT 0
LABEL install
  KERNEL /vmlinuz
  INITRD /installer.initrd
  APPEND $CMDLINE
EOF
cp "$out/vmlinuz" "$out/installer.initrd" "$iso/"
# UEFI: an El Torito EFI image (a FAT image with the same shim + GRUB) beside isolinux.
efi_tree "$work/iso-efi" /installer.initrd
efi_kib=$(( $(du -sk "$work/iso-efi" | cut -f1) + 512 ))
truncate -s "$(( (efi_kib + 1023) / 1024 ))M" "$iso/efiboot.img"
mformat -i "$iso/efiboot.img" -v DOMKIT_EFI ::
mcopy -s -i "$iso/efiboot.img" "$work/iso-efi/EFI" ::/
# GRUB sees the CD, not the El Torito image it came from: its $cmdpath is on the ISO.
mkdir -p "$iso/EFI/BOOT"
cp "$work/iso-efi/EFI/BOOT/grub.cfg" "$iso/EFI/BOOT/"
xorriso -as mkisofs -quiet -o "$out/install.iso" -V DOMKIT_INSTALL -J -R \
  -b isolinux/isolinux.bin -c isolinux/boot.cat \
  -no-emul-boot -boot-load-size 4 -boot-info-table \
  -eltorito-alt-boot -e efiboot.img -no-emul-boot "$iso" 2>/dev/null \
  || die "xorriso failed"

# The menu CD: ISOLINUX waits at its prompt (on the screen and ttyS0) for ever.
menu="$work/menu"
mkdir -p "$menu/isolinux"
cp "$ISOLINUX_BIN" "$LDLINUX_C32" "$menu/isolinux/"
cat > "$menu/isolinux/isolinux.cfg" <<EOF
SERIAL 0 115200
PROMPT 1
TIMEOUT 0
DEFAULT install
LABEL install
  KERNEL /vmlinuz
  INITRD /installer.initrd
  APPEND $CMDLINE
EOF
cp "$out/vmlinuz" "$out/installer.initrd" "$menu/"
xorriso -as mkisofs -quiet -o "$out/menu.iso" -V DOMKIT_MENU -J -R \
  -b isolinux/isolinux.bin -c isolinux/boot.cat \
  -no-emul-boot -boot-load-size 4 -boot-info-table "$menu" 2>/dev/null \
  || die "xorriso failed (menu.iso)"

printf '%s\n' "$CMDLINE" > "$out/cmdline"
cat > "$out/README" <<EOF
domkit test guest, built by tests/lab/guest.sh from $(basename "$deb") ($kver).
vmlinuz           the kernel
installer.initrd  installer: writes disk.img to /dev/vda, prints "DOMKIT-INSTALLER: disk written"
                  on ttyS0, then reboot -f (on error: "DOMKIT-INSTALLER: FAILED <why>", poweroff -f)
menu.iso          BIOS CD stopping at ISOLINUX's "boot:" prompt (also on ttyS0): "install ARGS" boots
                  the installer with ARGS added; domkit.say=W makes it print "DOMKIT-INSTALLER: said W"
install.iso       CD booting vmlinuz + installer.initrd ($CMDLINE): isolinux for BIOS,
                  an El Torito EFI image with shim + GRUB for UEFI
disk.img          the disk the installer writes (FAT superfloppy + SYSLINUX for BIOS, shim + GRUB
                  as EFI/BOOT/BOOTX64.EFI for UEFI); boots guest.initrd, which prints
                  "DOMKIT-GUEST: booted from disk" on ttyS0, then poweroff -f
UEFI: the installer prints "DOMKIT-INSTALLER: UEFI, install variable absent|present" and writes
the EFI variable DomkitInstalled-6e1d0c9a-8d3c-4c5e-9a61-646f6d6b6974; the installed guest prints
"DOMKIT-GUEST: UEFI, install variable present|absent" (NVRAM kept from the install, or reset).
guest.initrd      the disk's initrd
cmdline           kernel command line for a direct-kernel install: $CMDLINE
Kernel arguments for failure tests: domkit.fail (FAILED line + poweroff), domkit.crash (panic);
installer only: domkit.reboots=N (reboot N times first), domkit.hang (wait forever, no I/O).
Every installer boot prints "DOMKIT-INSTALLER: started". It prints /domkit-message when a file was
injected there, and answer.txt from a volume labelled DOMKIT_ANSWER (ISO 9660) when one is attached.
Domains need <features><acpi/></features>, serial port 0, and a virtio target disk >= 32 MiB.
EOF
: > "$out/.complete"
chmod 0755 "$out"
chmod 0644 "$out"/* "$out/.complete"

# Publish atomically. A concurrent build may have won: then keep its result.
if [ -e "$outdir" ] && ! complete "$outdir"; then
  stale=$(mktemp -d -- "$outdir.stale.XXXXXX")
  mv -T -- "$outdir" "$stale/old" 2>/dev/null || true
  rm -rf -- "$stale"
fi
if ! mv -T -- "$out" "$outdir" 2>/dev/null; then
  complete "$outdir" || die "could not publish $outdir"
fi
print_outputs
