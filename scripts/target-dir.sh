#!/usr/bin/env bash
#! Prints cargo's target directory for this workspace, as `cargo metadata` reports it
#! (CARGO_TARGET_DIR, a build.target-dir in a cargo config, else target/): the Makefile
#! and the scripts find the built tools there, never in a guessed target/.
set -euo pipefail

# No cd: cargo resolves a relative CARGO_TARGET_DIR against the caller's directory.
manifest=$(dirname "$0")/../Cargo.toml
meta=$("${CARGO:-cargo}" metadata --format-version 1 --no-deps --manifest-path "$manifest") ||
  { echo "target-dir.sh: cargo metadata failed (is cargo on PATH?)" >&2; exit 1; }
# JSON escapes only '"', '\' and control characters: a path without them is copied as is.
dir=$(printf '%s\n' "$meta" | sed -n 's/.*"target_directory":"\([^"\\]*\)".*/\1/p')
[ -n "$dir" ] ||
  { echo "target-dir.sh: cargo metadata names no target directory without '\"' or '\\' in it" >&2; exit 1; }
printf '%s\n' "$dir"
