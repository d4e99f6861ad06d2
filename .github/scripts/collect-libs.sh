#!/usr/bin/env bash
# Copies the libraries the build jobs uploaded into addons/godot-upnp/bin/, as they are
# (nothing stripped or renamed).
#
# Usage: .github/scripts/collect-libs.sh LIB_DIR
# LIB_DIR is where actions/download-artifact put them, either flat (LIB_DIR/FILE) or one
# directory per artifact (LIB_DIR/ARTIFACT/FILE); an artifact is named after its file, so a
# file that came down under another name (an archive's member, or the raw-download fallback
# name "artifact") takes its directory's name. Every file must be a library the
# .gdextension names, and none may come twice.
set -euo pipefail
cd "$(dirname "$0")/../.."
lib_dir=${1:?usage: collect-libs.sh LIB_DIR}
BIN=addons/godot-upnp/bin

die() { echo "collect-libs: $*" >&2; exit 1; }

[[ -d $lib_dir ]] || die "no directory $lib_dir"
named=$(bash .github/scripts/gdextension-libs.sh)
mkdir -p "$BIN"
seen=
while IFS= read -r -d '' f; do
  name=$(basename "$f")
  if ! grep -qxF "$name" <<<"$named"; then
    parent=$(basename "$(dirname "$f")")
    grep -qxF "$parent" <<<"$named" || die "$f is no library the .gdextension names"
    name=$parent
  fi
  grep -qxF "$name" <<<"$seen" && die "$name came twice"
  seen+=$name$'\n'
  cp "$f" "$BIN/$name"
  echo "collected $name ($(wc -c <"$f" | tr -d ' ') bytes) from $f"
done < <(find "$lib_dir" -type f -print0 | sort -z)
[[ -n $seen ]] || die "no files under $lib_dir"
