#!/usr/bin/env bash
#! Installs the Debian 12 packages domkit's build, tests, demo and benchmarks need. Idempotent.
set -euo pipefail

packages=(
  # build: the virt crate links libvirt through pkg-config
  pkg-config libvirt-dev
  # the private test hypervisor: a session-mode libvirtd driving real QEMU
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libxml2-utils
  qemu-system-x86 qemu-utils
  # the test guest: built from Debian's own binaries
  busybox-static syslinux syslinux-common isolinux mtools xorriso cpio
  # the OS database domxml-gen --os and dom-media inspect read; blkid checks seeds
  osinfo-db util-linux
  # UEFI guests (libvirt's firmware autoselection) and the emulated TPM, in the lab tests
  ovmf swtpm swtpm-tools
  # man-page lint; the shells whose completions the tests run
  groff-base zsh fish
  # `make deb` (CI builds, lints and installs the package)
  dpkg-dev lintian
  # the peers measured beside domkit in `make bench`
  virtinst time python3
  # the XML tools whose re-serialised documents tests/namespaces.rs swaps (ElementTree is
  # python3's own; virt-xml is virtinst's, xmllint libxml2-utils')
  python3-lxml
  # the lab's remote host: a private sshd in front of a second private libvirtd
  # (tests/lab/remote.sh); libvirt's ssh transports run nc on the remote side
  openssh-server netcat-openbsd
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: ${missing[*]}; run 'sudo make deps'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Some machines carry a newer qemu-utils than Debian 12's qemu-system-x86 accepts:
# pin it to the version qemu-system-x86 comes in.
qemu_version=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ {print $2}')
pinned=()
for p in "${missing[@]}"; do
  case "$p" in
    qemu-utils|qemu-system-x86) ;;
    *) pinned+=("$p") ;;
  esac
done
pinned+=("qemu-system-x86=$qemu_version" "qemu-system-common=$qemu_version" \
  "qemu-system-data" "qemu-utils=$qemu_version" "qemu-block-extra=$qemu_version")
# openssh-server is for the lab's private sshd only: its system service must not start
# (or stay enabled) on install. invoke-rc.d asks policy-rc.d; 101 means "do not start".
policy=/usr/sbin/policy-rc.d
own_policy=no
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# domkit scripts/deps.sh: no service starts during this install\nexit 101\n' > "$policy"
  chmod 0755 "$policy"
  own_policy=yes
  trap 'rm -f "$policy"' EXIT
fi
apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends --allow-downgrades \
  "${pinned[@]}" >/dev/null
if [ "$own_policy" = yes ]; then
  rm -f "$policy"
  trap - EXIT
fi
case " ${missing[*]} " in
  *" openssh-server "*)
    if [ -d /run/systemd/system ]; then
      systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
    fi ;;
esac
