#!/usr/bin/env bash
# Web export guard (issue 14 item 5): a game exported for the web gets no library of this
# addon (none is built for the web), so Godot prints "No GDExtension library found for
# current OS and architecture (web.wasm32) ..." at start and the classes do not exist.
# The guard the guide documents (ClassDB.class_exists / ClassDB.instantiate, the classes
# never named as identifiers: tests/godot/web-guard/guard.gd) must let such a game run.
#
# Here, in throw-away projects holding the addon folder, headless Godot runs the guarded
# scene:
#   - no library for this platform (the .gdextension's linux entries removed): the code
#     path a browser takes (there with web.wasm32 in place of linux.x86_64): the engine's
#     message, the "not available" branch, no script error, exit code 0;
#   - a real web export: the project exported for the Web preset as a pack (--export-pack
#     needs no export template): the export warns that no wasm32 library exists, the pack
#     holds the .gdextension and extension_list.cfg (libraries go beside a pack, never in
#     it, and for the web there is none), and run here with --main-pack it takes the
#     "not available" branch (here the library file is absent; in a browser no entry
#     matches, as in the first case);
#   - the library present: the "available" branch (the classes created and called);
# and, as the reason for the guard, the same code without it (direct.gd) fails to compile
# when the library is missing (and runs when it is present).
#
# Every Godot run is in a network namespace with only loopback up. Prints
# "godot-tests: N passed, M failed"; exits non-zero on failure. Needs root (ip netns).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
GODOT=${GODOT:-godot4}
OUT=${TEST_LOG_DIR:-$ROOT/target/test-logs}/webguard
mkdir -p "$OUT"
NS=eh-guard-$$
P=$(mktemp -d /tmp/godot-upnp-webguard.XXXXXX)
trap 'ip netns del "$NS" 2>/dev/null; rm -rf "$P"' EXIT
ip netns add "$NS" && ip -n "$NS" link set lo up || { echo "cannot create network namespace $NS"; exit 1; }
source tests/lib/checks.sh
EXT=res://addons/godot-upnp/godot-upnp.gdextension

# project NAME: the addon folder as a game holds it, the guard scenes, extension_list.cfg.
project() {
  APPLICATION_LINES='run/main_scene="res://guard.tscn"' addon_project "$P/$1" web-guard
  cp tests/godot/web-guard/*.gd tests/godot/web-guard/*.tscn "$P/$1/"
}

# run PROJECT SCENE: one headless run (bounded: 300 frames, 60 s); output in $OUT/PROJECT-SCENE.log.
run() {
  local log=$OUT/$1-$2.log
  timeout 60 ip netns exec "$NS" "$GODOT" --headless --path "$P/$1" --quit-after 300 "res://$2.tscn" >"$log" 2>&1
  echo $? >"$log.rc"
}
has() { grep -qF -- "$2" "$OUT/$1.log"; }
exit0() { [[ $(cat "$OUT/$1.log.rc") == 0 ]]; }

# The editor (for the export) with its own settings and cache, not the machine's.
mapfile -t EDITOR_HOME < <(editor_home "$P/home")

rust/godot-upnp/build-addon.sh debug || exit 1
project nolib
sed -i '/^linux\./d' "$P/nolib/addons/godot-upnp/godot-upnp.gdextension"
rm -f "$P"/nolib/addons/godot-upnp/bin/*
project lib
run lib guard
run lib direct
run nolib guard
run nolib direct

# The web export of the project that has the library (as the developer's own machine does).
cp tests/godot/web-guard/export_presets.cfg "$P/lib/"
mkdir -p "$P/home" "$P/webrun"
timeout 120 ip netns exec "$NS" env "${EDITOR_HOME[@]}" "$GODOT" --headless --path "$P/lib" \
  --export-pack Web "$P/web.pck" >"$OUT/export.log" 2>&1
echo $? >"$OUT/export.log.rc"
for scene in guard direct; do
  (cd "$P/webrun" && timeout 60 ip netns exec "$NS" "$GODOT" --headless --main-pack "$P/web.pck" --quit-after 300 \
    "res://$scene.tscn" >"$OUT/web-$scene.log" 2>&1
    echo $? >"$OUT/web-$scene.log.rc")
done

NOLIB_LINE="No GDExtension library found for current OS and architecture (linux.x86_64) in configuration file: $EXT"
exit0 export && has export 'No "wasm32" library found for GDExtension: "'"$EXT"'"'
ok $? "web export: exported, with the warning that there is no wasm32 library"
python3 -c 'import sys; pck = open(sys.argv[1], "rb").read()
sys.exit(0 if b".godot/extension_list.cfg" in pck and b"godot-upnp.gdextension" in pck else 1)' "$P/web.pck"
ok $? "web export: the pack holds extension_list.cfg and the .gdextension, so the game tries to load it"
for p in nolib web; do
  what="no library for this platform"
  [[ $p == web ]] && what="web export pack"
  exit0 "$p-guard"; ok $? "$what: the guarded scene exits with code 0"
  has "$p-guard" "web-guard: UPNPPortMapper not available" && has "$p-guard" "web-guard: RustUPNP not available"
  ok $? "$what: the guard takes the \"not available\" branch for UPNPPortMapper and RustUPNP"
  ! has "$p-guard" "SCRIPT ERROR"; ok $? "$what: no script error"
  has "$p-direct" 'Parse Error: Identifier "UPNPPortMapper" not declared in the current scope.' &&
    ! has "$p-direct" "web-guard-direct:"
  ok $? "$what: without the guard the script does not compile"
done
has nolib-guard "ERROR: $NOLIB_LINE"; ok $? "no library for this platform: the engine says so ($NOLIB_LINE)"
has nolib-guard "ERROR: Error loading extension: '$EXT'."; ok $? "no library for this platform: the extension is not loaded"

exit0 lib-guard; ok $? "library present: the guarded scene exits with code 0"
has lib-guard "web-guard: UPNPPortMapper available, status 0" && has lib-guard "web-guard: RustUPNP available, 0 devices"
ok $? "library present: the guard takes the \"available\" branch (both classes created and called)"
! grep -qE "SCRIPT ERROR|^ERROR|leaked" "$OUT/lib-guard.log"; ok $? "library present: no error, nothing leaked"
has lib-direct "web-guard-direct: UPNPPortMapper created"; ok $? "library present: the unguarded script runs too"

# What a developer sees, for the guide.
echo "--- printed by the Web export:"
grep -E "WARNING|ERROR" "$OUT/export.log" | sed 's/^/  /'
for p in nolib web; do
  echo "--- printed by Godot running the guarded scene, $p:"
  grep -E "ERROR|SCRIPT|at: " "$OUT/$p-guard.log" | sed 's/^/  /'
done
summary godot
