#!/usr/bin/env bash
# make acceptance: real Debian 12 installs through domkit's documented flow, on the lab daemon.
#
# Usage: tests/acceptance/run.sh VARIANT...
#   cdrom    FAI's offline install CD (tests/acceptance/fai-iso.sh) as the CD-ROM, BIOS boot
#   kernel   the same install, booted directly from the CD's kernel and initrd (taken out
#            of the ISO by the install-media tool), the CD attached as install-only media
#   cloud    a cloud image built by mmdebstrap (tests/acceptance/cloud-image.sh), first
#            boot with a NoCloud seed (install-only media), second boot without it
#   preseed  Debian 12's own installer (debian-installer-12-netboot-amd64's kernel and
#            initrd), tests/acceptance/preseed/preseed.cfg injected into its initrd by
#            the install-media tool, auto=true priority=critical as --extra-args: its
#            early_command prints a marker and powers off (no mirror is reachable here,
#            so the install itself cannot go further)
#   keys     the same installer and injected preseed on an isolinux CD made here, which
#            stops at its boot: prompt: dom-send-keys types the arguments there
#   all      the five, one after the other
#
# Each install variant runs the flow the README documents:
#   domxml-gen > NAME.xml; dom-define NAME.xml; domxml-rewrite --to install NAME.xml |
#   dom-create; dom-wait-shutdown NAME; dom-create NAME; dom-wait-shutdown NAME
# and then checks the serial log: the installed system's marker from its boot from disk,
# and the installer's own lines still there before it (the serial file is opened with
# append='on'). It also checks that the final config no longer carries the install media.
#
# Environment:
#   DOMKIT_BIN               the tools (default: release/ in cargo's target directory)
#   DOMKIT_ACCEPTANCE_LAB    the lab daemon's folder (default /var/tmp/domkit-acc; at most
#                            40 characters, see tests/lab/libvirtd.sh); made afresh
#   DOMKIT_ACCEPTANCE_CACHE  built media, kept between runs (default /var/tmp/domkit-acceptance)
#   DOMKIT_INSTALL_TIMEOUT   seconds an installer may run (default 3600)
#   DOMKIT_BOOT_TIMEOUT      seconds a boot from disk may take (default 900)
# Results: one line per variant on stdout and in CACHE/results/VARIANT.txt; guest files
# (disk, XML, serial log) stay in LAB/vms for inspection.
set -euo pipefail

die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }
usage() {
  printf 'usage: %s cdrom|kernel|cloud|preseed|keys|all...\n' "$0" >&2
  exit 2
}

[ "$#" -ge 1 ] || usage
variants=()
for v in "$@"; do
  case "$v" in
    cdrom|kernel|cloud|preseed|keys) variants+=("$v") ;;
    all) variants+=(cdrom kernel cloud preseed keys) ;;
    *) usage ;;
  esac
done

cd "$(dirname "$0")/../.."
bin=$(realpath -m -- "${DOMKIT_BIN:-$(scripts/target-dir.sh)/release}")
lab=${DOMKIT_ACCEPTANCE_LAB:-/var/tmp/domkit-acc}
cache=${DOMKIT_ACCEPTANCE_CACHE:-/var/tmp/domkit-acceptance}
install_timeout=${DOMKIT_INSTALL_TIMEOUT:-3600}
boot_timeout=${DOMKIT_BOOT_TIMEOUT:-900}
for t in domxml-gen domxml-rewrite dom-define dom-create dom-wait-shutdown; do
  [ -x "$bin/$t" ] || die "missing $bin/$t (make build)"
done
# The kernel, cloud, preseed and keys variants take their media from the install-media
# tool; keys types at a boot prompt.
case " ${variants[*]} " in
  *" kernel "*|*" cloud "*|*" preseed "*|*" keys "*)
    [ -x "$bin/dom-media" ] || die "missing $bin/dom-media (make build), needed by kernel, cloud, preseed and keys" ;;
esac
case " ${variants[*]} " in
  *" keys "*) [ -x "$bin/dom-send-keys" ] || die "missing $bin/dom-send-keys (make build), needed by keys" ;;
esac
[ "$(id -u)" -eq 0 ] || die "run as root (FAI and mmdebstrap build the media as root)"

readonly MARKER='DOMKIT-ACCEPTANCE: booted from disk'
results="$cache/results"
mkdir -p "$results"

# --- the lab -----------------------------------------------------------------------
tests/lab/libvirtd.sh stop "$lab" >/dev/null 2>&1 || true
rm -rf "$lab"
trap 'tests/lab/libvirtd.sh stop "$lab" >/dev/null 2>&1 || true' EXIT
export LIBVIRT_DEFAULT_URI
LIBVIRT_DEFAULT_URI=$(tests/lab/libvirtd.sh start "$lab")
domtype=$(tests/lab/libvirtd.sh domtype "$lab")
vms="$lab/vms"
mkdir -p "$vms"
chown domkit-lab: "$vms"
printf 'lab %s (domain type %s)\n' "$LIBVIRT_DEFAULT_URI" "$domtype" >&2

now() { date +%s; }
say() { printf '== %s\n' "$*" >&2; }
# serial NAME: the guest's serial log, carriage returns dropped.
serial() { tr -d '\r' < "$vms/$1.serial.log" 2>/dev/null || true; }

# new_disk NAME SIZE [FROM]: a raw disk the lab user can write, empty or a copy of FROM.
new_disk() {
  local disk="$vms/$1.img"
  rm -f "$disk"
  if [ -n "${3:-}" ]; then
    cp --sparse=always "$3" "$disk"
  fi
  truncate -s "$2" "$disk"
  chown domkit-lab: "$disk"
  printf '%s\n' "$disk"
}

# serial_appends NAME: domxml-gen kept the serial output in a log opened with
# append='on' (on a pty serial port, which --expect can follow), so the installer's log
# survives the final boot.
serial_appends() {
  local xml="$vms/$1.xml" log="$vms/$1.serial.log"
  grep -q "<log file='$log' append='on'/>" "$xml" ||
    die "$xml: domxml-gen wrote no append='on' serial log $log"
}

# install NAME: the documented flow up to the installer's stop; prints its seconds.
install() {
  local name="$1" t0
  say "$name: dom-define, then the installer once (domxml-rewrite --to install | dom-create)"
  "$bin/dom-define" "$vms/$name.xml" >&2
  t0=$(now)
  "$bin/domxml-rewrite" --to install "$vms/$name.xml" | "$bin/dom-create" >&2
  say "$name: dom-wait-shutdown (at most ${install_timeout}s; serial log $vms/$name.serial.log)"
  if ! "$bin/dom-wait-shutdown" --timeout "$install_timeout" "$name" >&2; then
    serial "$name" | tail -n 40 >&2
    die "$name: the installer did not stop cleanly"
  fi
  echo $(( $(now) - t0 ))
}

# boot NAME: start the defined (final) config, wait for it to stop; prints its seconds.
boot() {
  local name="$1" t0
  say "$name: dom-create $name (the final config), dom-wait-shutdown"
  t0=$(now)
  "$bin/dom-create" "$name" >&2
  if ! "$bin/dom-wait-shutdown" --timeout "$boot_timeout" "$name" >&2; then
    serial "$name" | tail -n 40 >&2
    die "$name: the installed system did not stop cleanly"
  fi
  echo $(( $(now) - t0 ))
}

# final_has_no MEDIA NAME: the defined config does not use the install media (outside
# <metadata>, where domkit's profile records the install phase).
final_has_no() {
  if virsh -q dumpxml --inactive "$2" | awk '/<metadata>/,/<\/metadata>/ {next} {print}' \
      | grep -qF "$1"; then
    die "$2: the final config still refers to $1"
  fi
}

# report VARIANT TEXT: one result line, kept in CACHE/results.
report() {
  printf '%s: %s\n' "$1" "$2" | tee "$results/$1.txt"
}

# --- FAI: CD-ROM and direct kernel ----------------------------------------------------
fai_iso=
fai_media() {
  [ -z "$fai_iso" ] || return 0
  local t0
  t0=$(now)
  fai_iso=$(tests/acceptance/fai-iso.sh "$cache/fai")
  report fai-iso "ready in $(( $(now) - t0 )) s ($fai_iso)"
}

# check_installed NAME INSTALL_S BOOT_S VARIANT: the marker after the installer's lines.
check_installed() {
  local name="$1" log
  log=$(serial "$name")
  grep -q 'Fully Automatic Installation' <<<"$log" \
    || die "$name: the installer's lines are gone from the serial log"
  grep -qF "$MARKER" <<<"$log" || die "$name: no '$MARKER' on the serial console"
  # The installer's lines come first: the final boot appended to them.
  if [ "$(grep -n -m1 'Fully Automatic Installation' <<<"$log" | cut -d: -f1)" -gt \
       "$(grep -nF -m1 "$MARKER" <<<"$log" | cut -d: -f1)" ]; then
    die "$name: the marker came before the installer's lines"
  fi
  grep -F "$MARKER" <<<"$log" | head -n1 >&2
  report "$4" "install $2 s, boot from disk $3 s ($(grep -F -m1 "$MARKER" <<<"$log"))"
}

variant_cdrom() {
  local name=domkit-acc-cdrom disk secs boot_secs
  fai_media
  disk=$(new_disk "$name" 4G)
  rm -f "$vms/$name.serial.log"
  say "$name: domxml-gen --cdrom $fai_iso"
  "$bin/domxml-gen" --name "$name" --type "$domtype" --memory 2GiB --vcpus 2 \
    --disk "$disk,format=raw" --serial "file=$vms/$name.serial.log" --graphics none \
    --cdrom "$fai_iso" > "$vms/$name.xml"
  serial_appends "$name"
  secs=$(install "$name")
  final_has_no "$fai_iso" "$name"
  boot_secs=$(boot "$name")
  check_installed "$name" "$secs" "$boot_secs" cdrom
}

variant_kernel() {
  local name=domkit-acc-kernel disk secs boot_secs media="$vms/fai-boot"
  fai_media
  disk=$(new_disk "$name" 4G)
  rm -f "$vms/$name.serial.log"
  # dom-media prints what it extracted as a domxml-gen spec: kernel, initrd, and the ISO
  # as install-only media. The CD's kernel command line lives in its GRUB memdisk, which
  # fai-iso.sh wrote: it also left it beside the ISO.
  say "$name: dom-media extract $fai_iso $media > $name.media.json"
  rm -rf "$media"
  "$bin/dom-media" extract "$fai_iso" "$media" > "$vms/$name.media.json"
  cat "$vms/$name.media.json" >&2
  chmod -R a+rX "$media"
  say "$name: domxml-gen --spec $name.media.json --cmdline \"\$(cat $cache/fai/cmdline)\""
  "$bin/domxml-gen" --spec "$vms/$name.media.json" --name "$name" --type "$domtype" \
    --memory 2GiB --vcpus 2 --disk "$disk,format=raw" \
    --serial "file=$vms/$name.serial.log" --graphics none \
    --cmdline "$(cat "$cache/fai/cmdline")" > "$vms/$name.xml"
  grep -q "<kernel>$media/" "$vms/$name.xml" || die "$name.xml: no kernel from $media"
  serial_appends "$name"
  secs=$(install "$name")
  final_has_no "$fai_iso" "$name"
  final_has_no "$media/" "$name"
  boot_secs=$(boot "$name")
  check_installed "$name" "$secs" "$boot_secs" kernel
}

# --- the cloud image: a NoCloud seed on the first boot only ------------------------------
variant_cloud() {
  local name=domkit-acc-cloud image disk seed="$vms/domkit-acc-cloud.seed.iso" t0 log
  local first_secs second_secs runcmd_lines
  t0=$(now)
  image=$(tests/acceptance/cloud-image.sh "$cache/cloud")
  report cloud-image "ready in $(( $(now) - t0 )) s ($image)"
  disk=$(new_disk "$name" 2G "$image")
  rm -f "$vms/$name.serial.log"
  say "$name: dom-media seed (tests/acceptance/cloud/{user-data,meta-data}) -> $seed"
  make_seed "$seed"
  say "$name: domxml-gen --disk (the cloud image) --install-disk $seed"
  "$bin/domxml-gen" --name "$name" --type "$domtype" --memory 1GiB --vcpus 2 \
    --disk "$disk,format=raw" --serial "file=$vms/$name.serial.log" --graphics none \
    --install-disk "$seed,device=cdrom" > "$vms/$name.xml"
  serial_appends "$name"
  # The first boot is the "install": cloud-init finds the seed, runs runcmd, and the
  # image's boot report powers the guest off.
  first_secs=$(install "$name")
  final_has_no "$seed" "$name"
  second_secs=$(boot "$name")
  log=$(serial "$name")
  grep -F 'DOMKIT-CLOUD:' <<<"$log" >&2 || true
  runcmd_lines=$(grep -c 'DOMKIT-CLOUD: cloud-init runcmd ran' <<<"$log" || true)
  [ "$runcmd_lines" -eq 1 ] || die "$name: cloud-init runcmd ran $runcmd_lines times (want 1)"
  grep -q 'DOMKIT-CLOUD: boot 1 from disk; seed attached; runcmd has run 1 time(s); cloud-init status: done; instances: domkit-acc-cloud-1 $' <<<"$log" \
    || die "$name: the first boot did not run the seed's user-data to the end"
  # The second boot: no seed, runcmd not run again, no new instance (cloud-init makes one,
  # and runs its per-instance modules again, whenever it falls back to another datasource).
  grep -q 'DOMKIT-CLOUD: boot 2 from disk; seed absent; runcmd has run 1 time(s); cloud-init status: [a-z]*; instances: domkit-acc-cloud-1 $' <<<"$log" \
    || die "$name: the second boot ran cloud-init's runcmd again, made a new instance, or did not report"
  report cloud "first boot (seed) $first_secs s, second boot (no seed) $second_secs s ($(grep -m1 'boot 2 from disk' <<<"$log"))"
}

# --- Debian's own installer, answered by a preseed injected into its initrd ----------------
readonly NETBOOT=/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64
readonly PRESEED_MARKER='DOMKIT-ACCEPTANCE: preseed early_command ran'
variant_preseed() {
  local name=domkit-acc-preseed disk initrd t0 log
  netboot_ready
  disk=$(new_disk "$name" 1G)
  initrd="$vms/$name.initrd.gz"
  rm -f "$vms/$name.serial.log"
  say "$name: dom-media inject $NETBOOT/initrd.gz preseed.cfg -o $initrd"
  "$bin/dom-media" inject --force "$NETBOOT/initrd.gz" tests/acceptance/preseed/preseed.cfg \
    -o "$initrd" >&2
  chmod a+r "$initrd"
  say "$name: domxml-gen --kernel $NETBOOT/linux --initrd $initrd --extra-args 'auto=true priority=critical'"
  "$bin/domxml-gen" --name "$name" --type "$domtype" --memory 1GiB \
    --disk "$disk,format=raw" --serial "pty,log=$vms/$name.serial.log" --graphics none \
    --kernel "$NETBOOT/linux" --initrd "$initrd" \
    --extra-args 'auto=true priority=critical' > "$vms/$name.xml"
  "$bin/dom-define" "$vms/$name.xml" >&2
  t0=$(now)
  "$bin/domxml-rewrite" --to install "$vms/$name.xml" | "$bin/dom-create" >&2
  say "$name: dom-wait-shutdown --expect '$PRESEED_MARKER'"
  if ! "$bin/dom-wait-shutdown" --timeout "$install_timeout" --expect "$PRESEED_MARKER" \
      "$name" >&2; then
    serial "$name" | tail -n 40 >&2
    die "$name: the installer did not run the injected preseed's early_command"
  fi
  log=$(serial "$name")
  final_has_no "$initrd" "$name"
  report preseed "the installer ran the injected preseed after $(( $(now) - t0 )) s ($(grep -oF -m1 "$PRESEED_MARKER" <<<"$log"))"
}

# netboot_ready: Debian's netboot kernel and initrd are installed.
netboot_ready() {
  [ -r "$NETBOOT/linux" ] && [ -r "$NETBOOT/initrd.gz" ] \
    || die "missing $NETBOOT/{linux,initrd.gz} (scripts/deps-acceptance.sh installs debian-installer-12-netboot-amd64)"
}

# The same installer on a CD that stops at ISOLINUX's boot: prompt (also on ttyS0), the
# arguments typed there by dom-send-keys between dom-create and dom-wait-shutdown.
readonly ISOLINUX_BIN=/usr/lib/ISOLINUX/isolinux.bin
readonly LDLINUX_C32=/usr/lib/syslinux/modules/bios/ldlinux.c32
variant_keys() {
  local name=domkit-acc-keys disk tree iso t0 deadline
  netboot_ready
  [ -r "$ISOLINUX_BIN" ] && [ -r "$LDLINUX_C32" ] || die "missing isolinux (scripts/deps.sh)"
  disk=$(new_disk "$name" 1G)
  tree="$vms/$name.tree"
  iso="$vms/$name.iso"
  rm -rf "$tree" "$vms/$name.serial.log"
  mkdir -p "$tree/isolinux"
  cp "$ISOLINUX_BIN" "$LDLINUX_C32" "$tree/isolinux/"
  cp "$NETBOOT/linux" "$tree/linux"
  say "$name: dom-media inject the preseed, an isolinux CD with a boot: prompt"
  "$bin/dom-media" inject "$NETBOOT/initrd.gz" tests/acceptance/preseed/preseed.cfg \
    -o "$tree/initrd.gz" >&2
  printf '%s\n' 'SERIAL 0 115200' 'PROMPT 1' 'TIMEOUT 0' 'DEFAULT install' \
    'LABEL install' '  KERNEL /linux' '  INITRD /initrd.gz' '  APPEND vga=788 --- quiet' \
    > "$tree/isolinux/isolinux.cfg"
  xorriso -as mkisofs -quiet -o "$iso" -V DOMKIT_DI_MENU -J -R \
    -b isolinux/isolinux.bin -c isolinux/boot.cat \
    -no-emul-boot -boot-load-size 4 -boot-info-table "$tree" 2>/dev/null \
    || die "xorriso failed ($iso)"
  chmod a+r "$iso"
  "$bin/domxml-gen" --name "$name" --type "$domtype" --memory 1GiB \
    --disk "$disk,format=raw" --serial "pty,log=$vms/$name.serial.log" --graphics none \
    --cdrom "$iso" > "$vms/$name.xml"
  "$bin/dom-define" "$vms/$name.xml" >&2
  t0=$(now)
  "$bin/domxml-rewrite" --to install "$vms/$name.xml" | "$bin/dom-create" > "$vms/$name.record"
  # The prompt waits for ever: type once it shows on the serial console.
  deadline=$(( $(now) + boot_timeout ))
  until serial "$name" | grep -q 'boot:'; do
    [ "$(now)" -lt "$deadline" ] || die "$name: no boot: prompt after ${boot_timeout}s"
    sleep 1 # poll interval, not synchronisation
  done
  say "$name: dom-send-keys 'install auto=true priority=critical<enter>' | dom-wait-shutdown --expect"
  if ! "$bin/dom-send-keys" 'install auto=true priority=critical<enter>' < "$vms/$name.record" \
      | "$bin/dom-wait-shutdown" --timeout "$install_timeout" --expect "$PRESEED_MARKER" >&2; then
    serial "$name" | tail -n 40 >&2
    die "$name: the installer booted with the typed arguments did not run the preseed"
  fi
  final_has_no "$iso" "$name"
  report keys "typed at the CD's boot: prompt, the installer ran the injected preseed after $(( $(now) - t0 )) s"
}

# make_seed FILE: a NoCloud seed (ISO 9660, volume label cidata) from the user-data and
# meta-data in tests/acceptance/cloud/.
make_seed() {
  rm -f "$1"
  "$bin/dom-media" seed --user-data tests/acceptance/cloud/user-data \
    --meta-data tests/acceptance/cloud/meta-data -o "$1" >&2
  chmod 0644 "$1"
}

started=$(now)
for v in "${variants[@]}"; do
  "variant_$v"
done
printf 'acceptance: %s passed in %s s\n' "${variants[*]}" "$(( $(now) - started ))"
