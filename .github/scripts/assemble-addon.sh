#!/usr/bin/env bash
# Assembles the drop-in addon from the libraries the build jobs made and zips it.
#
# Usage: .github/scripts/assemble-addon.sh LIB_DIR [ZIP]   (ZIP defaults to godot-upnp-addon.zip)
# Copies the libraries under LIB_DIR into addons/godot-upnp/bin/ (collect-libs.sh: as they
# are, nothing stripped or renamed), then checks that bin/ holds exactly the libraries the
# .gdextension names: none missing, nothing else. The zip unpacks into a project's root as
# addons/godot-upnp/ (README.md and LICENSE*, when the repository has them, go inside it, so
# unpacking never overwrites a project's own README).
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/../.."
ROOT=$PWD
lib_dir=${1:?usage: assemble-addon.sh LIB_DIR [ZIP]}
zip_name=${2:-godot-upnp-addon.zip}
case $zip_name in /*) zip_path=$zip_name ;; *) zip_path=$ROOT/$zip_name ;; esac
ADDON=addons/godot-upnp
BIN=$ADDON/bin

die() { echo "assemble-addon: $*" >&2; exit 1; }

bash .github/scripts/collect-libs.sh "$lib_dir"

expected=$(bash .github/scripts/gdextension-libs.sh "$ADDON/godot-upnp.gdextension")
[[ -n $expected ]] || die "the .gdextension names no library"
missing=0
while IFS= read -r lib; do
  if [[ -s $BIN/$lib ]]; then
    echo "ok       $lib"
  else
    echo "MISSING  $lib"; missing=1
  fi
done <<<"$expected"
extra=0
for f in "$BIN"/*; do
  grep -qxF "$(basename "$f")" <<<"$expected" || { echo "EXTRA    $(basename "$f")"; extra=1; }
done
((missing == 0)) || die "libraries missing from $BIN"
((extra == 0)) || die "$BIN holds files the .gdextension does not name"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/addons"
cp -R "$ADDON" "$stage/addons/"
for doc in README.md LICENSE LICENSE.md LICENSE.txt; do
  if [[ -f $doc ]]; then cp "$doc" "$stage/$ADDON/"; fi
done
rm -f "$zip_path"
(cd "$stage" && zip -r -X -q "$zip_path" addons)
unzip -l "$zip_path"
# The zip must hold the .gdextension and every library under the paths it names.
listing=$(unzip -Z1 "$zip_path")
grep -qxF "$ADDON/godot-upnp.gdextension" <<<"$listing" || die "zip lacks the .gdextension"
while IFS= read -r lib; do
  grep -qxF "$BIN/$lib" <<<"$listing" || die "zip lacks $BIN/$lib"
done <<<"$expected"
echo "assembled $zip_path"
