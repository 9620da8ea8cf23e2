#!/usr/bin/env bash
#! `make install` into a temporary DESTDIR, from the dev build the tests already made (no
#! second release build in `make check`): lists exactly what landed and compares it with
#! what should, runs an installed tool and finds the installed pages with man(1), then
#! `make uninstall` must leave no file behind.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t tools < <(make -s --no-print-directory print-tools)
prefix=/usr/local
dest=$(mktemp -d /var/tmp/domkit-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT
# The binaries `make test` built (target/debug): nothing is built again.
run_make() {
  make -s --no-print-directory "$@" DESTDIR="$dest" PREFIX="$prefix" PROFILE=dev INSTALL_BUILD=
}

expected() {
  for t in "${tools[@]}"; do
    echo "$prefix/bin/$t"
    echo "$prefix/share/man/man1/$t.1"
    echo "$prefix/share/bash-completion/completions/$t"
    echo "$prefix/share/zsh/vendor-completions/_$t"
    echo "$prefix/share/fish/vendor_completions.d/$t.fish"
  done
  echo "$prefix/share/man/man5/domkit-record.5"
  echo "$prefix/share/man/man7/domkit.7"
  echo "$prefix/share/doc/domkit/record.schema.json"
}
landed() { (cd "$dest" && find . ! -type d | sed 's|^\.||' | sort); }

run_make install >/dev/null
echo "install-check: make install DESTDIR=$dest PREFIX=$prefix put:"
landed | sed 's/^/  /'
if ! diff -u <(expected | sort) <(landed); then
  echo "install-check: make install put a different set of files (diff above: - expected, + landed)" >&2
  exit 1
fi
for t in "${tools[@]}"; do
  [ -x "$dest$prefix/bin/$t" ] || { echo "install-check: $t is not executable" >&2; exit 1; }
done
"$dest$prefix/bin/domxml-gen" --version
for page in domkit domkit-record dom-create; do
  MANPATH="$dest$prefix/share/man" man -w "$page" >/dev/null
done

run_make uninstall >/dev/null
left=$(landed)
if [ -n "$left" ]; then
  echo "install-check: make uninstall left:" >&2
  echo "$left" >&2
  exit 1
fi
echo "install-check: $(expected | wc -l) files installed, all removed by make uninstall"

# With CARGO_TARGET_DIR elsewhere (as many Rust users have it), make install takes the
# tools from there, not from target/: stand-ins that say where they come from, in a
# target folder of their own, so nothing is built twice.
alt=$(mktemp -d /var/tmp/domkit-target.XXXXXX)
trap 'rm -rf "$dest" "$alt"' EXIT
mkdir "$alt/debug"
for t in "${tools[@]}"; do
  printf '#!/bin/sh\necho "%s from CARGO_TARGET_DIR"\n' "$t" > "$alt/debug/$t"
  chmod 0755 "$alt/debug/$t"
done
[ "$(CARGO_TARGET_DIR=$alt scripts/target-dir.sh)" = "$alt" ] ||
  { echo "install-check: scripts/target-dir.sh does not name CARGO_TARGET_DIR=$alt" >&2; exit 1; }
CARGO_TARGET_DIR=$alt run_make install >/dev/null
for t in "${tools[@]}"; do
  said=$("$dest$prefix/bin/$t" 2>&1 || true)
  [ "$said" = "$t from CARGO_TARGET_DIR" ] ||
    { echo "install-check: with CARGO_TARGET_DIR=$alt, make install took $t from elsewhere ($said)" >&2; exit 1; }
done
CARGO_TARGET_DIR=$alt run_make uninstall >/dev/null
[ -z "$(landed)" ] || { echo "install-check: make uninstall left files after the CARGO_TARGET_DIR install" >&2; exit 1; }
echo "install-check: with CARGO_TARGET_DIR=$alt, make install took all ${#tools[@]} tools from there"
