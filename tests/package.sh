#!/usr/bin/env bash
# The release zip: assembles dist/godot-upnp-VERSION.zip, the Asset Library / release
# download, from addons/godot-upnp/ (the .gdextension, README.md, the libraries in bin/,
# the repository's LICENSE copied in) and checks it:
#   - the versions agree: Cargo.toml's workspace version, the .gdextension's
#     "; version" line, the newest released section of CHANGELOG.md (and --tag);
#   - .github/scripts/changelog-section.sh extracts that section (the release's body);
#   - the zip's layout: every path under addons/godot-upnp/, the .gdextension, LICENSE and
#     README.md there, bin/ holding only libraries the .gdextension names, every library
#     present in bin/ (with --all: every one it names) in the zip and not empty, nothing
#     hidden, imported or built (.godot/, *.import, target/...);
#   - the zip works: unpacked into a fresh project, `godot --headless --import` once (as
#     a game developer's CI does; it must register the extension, its exit status is
#     shown, see below), then the engine loads the Linux x86_64 debug library and
#     RustUPNP.get_version() returns the version.
# Prints "ok"/"FAIL" per check, ends with "package-tests: N passed, M failed", exits non-zero on
# any failure.
#
# Usage: tests/package.sh [--all] [--tag TAG]
#   no option  the libraries built on this machine: builds the Linux debug library first
#              (rust/godot-upnp/build-addon.sh debug) and zips what bin/ holds
#   --all      the release: bin/ must hold every library the .gdextension names (the
#              release workflow fills it with .github/scripts/collect-libs.sh); builds nothing
#   --tag TAG  the tag being released must be v<version>
# GODOT selects the engine binary (default godot4). Under GitHub Actions the step outputs
# `zip` (its path), `file` (its name) and `version` are set.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
ADDON=addons/godot-upnp
GDEXTENSION=$ADDON/godot-upnp.gdextension
GODOT=${GODOT:-godot4}
all=0 tag=
while (($#)); do
  case $1 in
    --all) all=1 ;;
    --tag) tag=${2:?--tag needs a value}; shift ;;
    *) echo "usage: tests/package.sh [--all] [--tag TAG]" >&2; exit 2 ;;
  esac
  shift
done

source tests/lib/checks.sh
finish() {
  summary package
  exit
}
# The conditions (called through check, hence the directive).
# shellcheck disable=SC2329
same() { [[ $1 == "$2" ]] || { echo "     '$1' != '$2'"; return 1; }; }
# shellcheck disable=SC2329
lacks() { ! grep -Eq "$1" <<<"$2"; }
# shellcheck disable=SC2329
starts_with_text() { [[ -n $1 && $1 != "## "* ]]; }
# shellcheck disable=SC2329
fails() { ! "$@" >/dev/null 2>&1; }
# shellcheck disable=SC2329
member_not_empty() { (($(unzip -Z -l "$1" "$2" | awk 'NR == 1 { print $4 }') > 0)); }
# indent LABEL TEXT: TEXT's lines under a check.
indent() { [[ -z $2 ]] || while IFS= read -r line; do echo "     $1: $line"; done <<<"$2"; }

if ((!all)); then
  rust/godot-upnp/build-addon.sh debug || { ok 1 "build-addon.sh debug"; finish; }
fi

# --- Versions ---
cargo_version=$(awk '/^\[/ { inside = ($0 == "[workspace.package]") }
  inside && /^version *= *"/ { v = $0; sub(/^version *= *"/, "", v); sub(/".*/, "", v); print v; exit }' Cargo.toml)
gdext_version=$(sed -n 's/^; version \([^ ]*\)$/\1/p' "$GDEXTENSION")
changelog_version=$(bash .github/scripts/changelog-section.sh --newest)
version=$cargo_version
check "Cargo.toml's workspace version is a version ($version)" \
  grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$' <<<"$version"
check "the .gdextension's version line says $version" same "$gdext_version" "$version"
check "CHANGELOG.md's newest release is $version" same "$changelog_version" "$version"
if [[ -n $tag ]]; then
  check "the tag $tag is v$version" same "$tag" "v$version"
fi

# --- The release notes (changelog-section.sh on this version) ---
notes=$(bash .github/scripts/changelog-section.sh "$version")
check "changelog-section.sh extracts $version's section ($(wc -l <<<"$notes") lines)" test -n "$notes"
check "the section stops before the next release and has no link definitions" \
  lacks '^(## |\[[^]]+\]: )' "$notes"
check "the section starts with its first line of text, not its heading" \
  starts_with_text "$(head -n1 <<<"$notes")"
check "changelog-section.sh fails for a version CHANGELOG.md does not have" \
  fails bash .github/scripts/changelog-section.sh 0.0.0-none
# A changelog with two releases: the older one's section is exactly its lines, and the
# newest release is the first after a non-empty Unreleased.
fixture=$(mktemp)
printf '%s\n' '# Changelog' '' '## [Unreleased]' '' '- next' '' '## [1.1.0] - 2026-02-01' '' \
  '### Fixed' '' '- b' '' '## [1.0.0] - 2026-01-01' '' '- a' '' '[Unreleased]: u' '[1.1.0]: v' >"$fixture"
check "changelog-section.sh on a two-release fixture: 1.1.0's section is its own lines" \
  same "$(bash .github/scripts/changelog-section.sh 1.1.0 "$fixture" | tr '\n' '|')" "### Fixed||- b|"
check "changelog-section.sh on the fixture: the last section ends before the link definitions" \
  same "$(bash .github/scripts/changelog-section.sh 1.0.0 "$fixture")" "- a"
check "changelog-section.sh --newest on the fixture skips Unreleased" \
  same "$(bash .github/scripts/changelog-section.sh --newest "$fixture")" "1.1.0"
rm -f "$fixture"
((failed == 0)) || finish

# --- bin/: libraries the .gdextension names ---
named=$(bash .github/scripts/gdextension-libs.sh "$GDEXTENSION")
present=()
while IFS= read -r lib; do
  [[ -n $lib ]] || continue
  if [[ -s $ADDON/bin/$lib ]]; then present+=("$lib"); elif ((all)); then echo "     missing: bin/$lib"; fi
done <<<"$named"
extra=$(find "$ADDON/bin" -mindepth 1 2>/dev/null | sed "s|^$ADDON/bin/||" | grep -vxF "$named")
check "bin/ holds only libraries the .gdextension names" test -z "$extra"
indent extra "$extra"
if ((all)); then
  check "bin/ holds all $(wc -l <<<"$named") libraries the .gdextension names (${#present[@]} there)" \
    test "${#present[@]}" -eq "$(wc -l <<<"$named")"
else
  check "bin/ holds this machine's library (${present[*]:-none})" test "${#present[@]}" -gt 0
fi
((failed == 0)) || finish

# --- Assemble ---
zip_path=$ROOT/dist/godot-upnp-$version.zip
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/addons" dist
cp -R "$ADDON" "$stage/addons/"
cp LICENSE "$stage/$ADDON/LICENSE"
rm -f "$zip_path"
(cd "$stage" && zip -r -X -q "$zip_path" addons) || { ok 1 zip; finish; }
unzip -l "$zip_path"
listing=$(unzip -Z1 "$zip_path")

# --- Layout ---
outside=$(grep -vE "^addons/(godot-upnp/.*)?$" <<<"$listing")
check "every path is under $ADDON/" test -z "$outside"
indent outside "$outside"
for f in godot-upnp.gdextension LICENSE README.md; do
  check "the zip has $ADDON/$f" grep -qxF "$ADDON/$f" <<<"$listing"
done
check "its LICENSE is the repository's" cmp -s <(unzip -p "$zip_path" "$ADDON/LICENSE") LICENSE
check "its .gdextension is the addon's" cmp -s <(unzip -p "$zip_path" "$GDEXTENSION") "$GDEXTENSION"
for lib in "${present[@]}"; do
  check "the zip has bin/$lib, not empty" \
    member_not_empty "$zip_path" "$ADDON/bin/$lib"
done
check "bin/ in the zip holds only the libraries of bin/ (${#present[@]})" \
  test "$(grep -c "^$ADDON/bin/." <<<"$listing")" -eq "${#present[@]}"
junk=$(grep -E '(^|/)\.|\.import$|(^|/)(target|__pycache__)/|\.(tmp|o|d|rlib|pdb)$|~$' <<<"$listing")
check "nothing hidden, imported or built in the zip" test -z "$junk"
indent junk "$junk"

# --- It loads: a fresh project with only the unpacked zip ---
lib=libgodot_upnp.linux.x86_64.debug.so
if [[ " ${present[*]} " != *" $lib "* ]]; then
  check "the zip has $lib (the library the load check uses)" false
else
  project=$stage/project
  mkdir -p "$project"
  unzip -q "$zip_path" -d "$project"
  printf 'config_version=5\n\n[application]\n\nconfig/name="zip check"\n' >"$project/project.godot"
  # Typed on purpose (RustUPNP by name): the script compiles only if the class exists.
  printf '%s\n' 'extends SceneTree' '' '' 'func _initialize() -> void:' \
    '	print("zip-check: version %s" % RustUPNP.get_version())' '	quit()' >"$project/check.gd"
  # Offline where possible (root): a network namespace of its own, with no interface up.
  isolate=()
  if unshare -n true 2>/dev/null; then isolate=(unshare -n); fi
  timeout 120 "${isolate[@]}" "$GODOT" --headless --path "$project" --import >"$stage/import.log" 2>&1
  import_status=$?
  # Not a check of the zip: Godot 4.6.3 crashes at exit of this first editor run of a
  # project with an extension that registers docs (SIGSEGV, status 134: the engine's
  # godotengine/godot#111048, also without this extension's own registrations), after
  # the import is done and saved; the next run exits 0, and so does this one with
  # --frame-delay 800 (3 of 3 here; 100 and 300 still crash). Shown, not counted.
  echo "     godot --headless --import exited $import_status"
  check "the import registered the extension (.godot/extension_list.cfg)" \
    grep -qxF "res://$GDEXTENSION" "$project/.godot/extension_list.cfg"
  out=$(timeout 60 "${isolate[@]}" "$GODOT" --headless --path "$project" --script res://check.gd 2>&1)
  got=$(sed -n 's/^zip-check: version //p' <<<"$out")
  check "the unpacked addon loads: RustUPNP.get_version() is $version" same "$got" "$version"
  [[ $got == "$version" ]] || tail -n 15 <<<"$out"
fi

echo "zip: $zip_path"
if [[ -n ${GITHUB_OUTPUT:-} ]]; then
  { echo "zip=$zip_path"; echo "file=${zip_path##*/}"; echo "version=$version"; } >>"$GITHUB_OUTPUT"
fi
finish
