#!/usr/bin/env bash
#! Builds debian/domkit_<version>-1_<arch>.deb in cargo's target directory (target/ unless
#! CARGO_TARGET_DIR or a cargo config says otherwise) from the release build with dpkg-deb
#! and hand-written control files (`make install` lays out the tree), then runs lintian on
#! it: any error fails the build. Needs dpkg-dev (dpkg-shlibdeps) and lintian (`make deps`).
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
revision=1
arch=$(dpkg --print-architecture)
mapfile -t tools < <(make -s --no-print-directory print-tools)
target=$(scripts/target-dir.sh)
out=$target/debian
stage=$out/stage
deb=$out/domkit_${version}-${revision}_${arch}.deb
# Dates in the package come from the last commit, so a rebuild of one commit is the same.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

rm -rf "$stage" && mkdir -p "$stage/DEBIAN"
make -s --no-print-directory install DESTDIR="$stage" PREFIX=/usr PROFILE=release TARGET_DIR="$target"

# Debian policy: stripped binaries, compressed man pages and changelog, a copyright file.
for t in "${tools[@]}"; do
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/$t"
done
find "$stage/usr/share/man" -type f -name '*.[1-9]' -exec gzip -9n {} +
doc=$stage/usr/share/doc/domkit
install -m 0644 /dev/stdin "$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: domkit
Source: $(sed -n 's/^repository = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)

Files: *
Copyright: 2026 The domkit developers
License: MIT or Apache-2.0

License: MIT
$(sed -n '5,$p' LICENSE-MIT | sed -e 's/^$/./' -e 's/^/ /')

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not use
 this file except in compliance with the License. You may obtain a copy of the
 License at http://www.apache.org/licenses/LICENSE-2.0
 .
 On Debian systems, the full text of the Apache License, Version 2.0 can be
 found in the file '/usr/share/common-licenses/Apache-2.0'.
COPYRIGHT
changelog_date=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
gzip -9n > "$doc/changelog.Debian.gz" <<CHANGELOG
domkit (${version}-${revision}) unstable; urgency=medium

  * Package built from the upstream source with scripts/deb.sh.

 -- domkit developers <dev@domkit.dev>  ${changelog_date}
CHANGELOG
chmod 0644 "$doc/changelog.Debian.gz"

# Depends from the libraries the binaries link (libvirt0, libc6, libgcc-s1), as
# dpkg-shlibdeps computes them; it wants a debian/control beside it.
shlibs=$(mktemp -d)
trap 'rm -rf "$shlibs"' EXIT
mkdir "$shlibs/debian"
printf 'Source: domkit\n\nPackage: domkit\nArchitecture: any\n' > "$shlibs/debian/control"
binaries=()
for t in "${tools[@]}"; do binaries+=("-e$stage/usr/bin/$t"); done
depends=$(cd "$shlibs" && dpkg-shlibdeps -O "${binaries[@]}" | sed -n 's/^shlibs:Depends=//p')

cat > "$stage/DEBIAN/control" <<CONTROL
Package: domkit
Version: ${version}-${revision}
Architecture: ${arch}
Maintainer: domkit developers <dev@domkit.dev>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: ${depends}
Suggests: libvirt-daemon-system, libvirt-clients, qemu-system-x86, ovmf, swtpm, osinfo-db
Section: admin
Priority: optional
Homepage: $(sed -n 's/^repository = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
Description: small Unix tools for two-phase libvirt guest installs
 A guest's first boot (the installer) needs a different libvirt config from
 every later boot. domkit defines the final config first, boots the install
 config once over the defined domain, waits on libvirt's lifecycle events
 until the installer stops, and boots the final config: killed at any moment,
 nothing is lost.
 .
 domxml-gen writes domain XML with the install method recorded in its
 metadata; domxml-rewrite swaps the boot section byte for byte; dom-define,
 dom-create and dom-wait-shutdown drive libvirt and print JSON records that
 compose in pipes (see domkit-record(5)); dom-send-keys types into boot
 menus; dom-media inspects install ISOs, extracts their kernel and initrd,
 adds answer files to initrds, and writes answer-file images and cloud-init
 seeds; dom-vol creates, uploads (sparse) and deletes storage volumes
 through the connection. Shell completions for bash, zsh and fish are included.
CONTROL
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
rm -rf "$stage"
echo "deb: $deb ($(du -k "$deb" | cut -f1) KiB)"
dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p'
lintian --fail-on error --display-level '>=warning' "$deb"
echo "deb: lintian reports no errors"
