#!/usr/bin/env bash
# Checks that the addon's Linux x86_64 library of one profile loads in an engine: installs
# the addon into godot-project/ (as build-addon.sh does) and runs res://tests/smoke_load.gd,
# which prints "smoke: ok" and exits 0 when the extension's classes exist.
#
# Usage: GODOT=/path/to/engine .github/scripts/smoke-load.sh debug|release
# Needs addons/godot-upnp/bin/libgodot_upnp.linux.x86_64.PROFILE.so.
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=${1:?usage: smoke-load.sh debug|release}
godot=${GODOT:?set GODOT to the engine binary}

die() { echo "smoke-load: $*" >&2; exit 1; }

lib=libgodot_upnp.linux.x86_64.$profile.so
[[ -s addons/godot-upnp/bin/$lib ]] || die "no addons/godot-upnp/bin/$lib"

rm -rf godot-project/addons/godot-upnp
mkdir -p godot-project/addons godot-project/.godot
cp -R addons/godot-upnp godot-project/addons/godot-upnp
# A project never opened in the editor loads no extension unless this file names it.
echo "res://addons/godot-upnp/godot-upnp.gdextension" >godot-project/.godot/extension_list.cfg

gdext="godot-project/addons/godot-upnp/godot-upnp.gdextension"
case $profile in
  debug) ;;  # the shipped .gdextension as it is: an editor binary picks linux.debug.x86_64
  release)
    # An editor binary has the feature tag "debug", never "release", so it would load the
    # debug library. In this copy only, name the release library under the tag-less key.
    sed -i -e '/^linux\.debug\.x86_64[[:space:]]*=/d' \
      -e 's/^linux\.release\.x86_64\([[:space:]]*=\)/linux.x86_64\1/' "$gdext"
    ;;
  *) die "profile must be debug or release" ;;
esac
grep -Eq "^linux\.($profile\.)?x86_64[[:space:]]*=[[:space:]]*\"res://addons/godot-upnp/bin/$lib\"" "$gdext" ||
  die "$gdext does not select $lib for this engine"
grep -E '^linux\.' "$gdext" | grep x86_64

log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$godot" --headless --version
set +e
timeout 300 "$godot" --headless --path godot-project --script res://tests/smoke_load.gd 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
grep -qx 'smoke: ok' "$log" || die "$lib did not load (exit $rc)"
((rc == 0)) || die "the engine exited $rc"
echo "smoke-load: $lib loads in $("$godot" --headless --version | tail -n1)"
