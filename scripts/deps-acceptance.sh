#!/usr/bin/env bash
#! Installs the Debian 12 packages `make acceptance` needs on top of scripts/deps.sh. Idempotent.
# Not run by `make check`: these are only for the real installers (FAI CD, cloud image, d-i).
set -euo pipefail

packages=(
  # FAI: builds the offline Debian 12 install CD (fai-make-nfsroot, fai-mirror, fai-cd)
  fai-server fai-setup-storage fai-doc squashfs-tools reprepro
  grub-pc-bin grub-efi-amd64-bin mtools dosfstools xorriso
  # the cloud image: mmdebstrap builds the root, e2fsprogs/fdisk/grub make it a disk
  mmdebstrap e2fsprogs fdisk
  # the preseed variant: Debian 12's own installer, its netboot kernel and initrd
  debian-installer-12-netboot-amd64
  # reading serial logs and checks
  shellcheck
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps-acceptance: missing packages: ${missing[*]}; run 'sudo scripts/deps-acceptance.sh'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
