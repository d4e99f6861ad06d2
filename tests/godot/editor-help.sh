#!/usr/bin/env bash
# Editor help under test (issue 16 item 2): the Godot editor, run headless on a throw-away
# project holding the addon and a small @tool EditorPlugin (tests/godot/editor-help/),
# opens the help page of each class as F1 would (ScriptEditor.goto_help) and dumps its
# parsed text with what ClassDB registers; tests/godot/editor_help.py checks that the
# class description and every method's, property's, signal's and enum value's
# description, read from the Rust sources, is on the page, under that member's entry.
# Both builds: RustUPNP, RustUPNPDevice, UPNPPortMapper; then the engine-names build's
# UPNP, UPNPDevice.
#
# The editor runs in a network namespace of its own with only loopback up, and with its
# own settings and cache directories (a temporary HOME / XDG_*), so it never touches a
# real network or the machine's editor cache. Editor behaviour this has to respect
# (Godot 4.6.3, EditorHelp::generate_doc): on an editor's first start on a machine (no
# editor_doc_cache-4.6.res yet) the doc data is generated from ClassDB and the extension's
# registered documentation is never merged in, so for that whole session every page of an
# extension class shows "There is currently no description"; from the second start on it
# is there. With the engine-names build it shows the engine's own class reference for
# UPNP and UPNPDevice instead (nothing for our additions). So for each build a first
# run builds that cache (and reports what it showed); the checked run comes after it.
#
# Prints "godot-tests: N passed, M failed" per checked run; exits non-zero on failure.
# Needs root (ip netns). GODOT selects the binary (default godot4).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
GODOT=${GODOT:-godot4}
OUT=${TEST_LOG_DIR:-$ROOT/target/test-logs}/edhelp
mkdir -p "$OUT"
NS=eh-help-$$
P=$(mktemp -d /tmp/godot-upnp-edhelp.XXXXXX)
trap 'ip netns del "$NS" 2>/dev/null; rm -rf "$P"' EXIT
rc=0

ip netns add "$NS" && ip -n "$NS" link set lo up || { echo "cannot create network namespace $NS"; exit 1; }
source tests/lib/checks.sh
# The editor's own settings, data and cache (only for the editor: cargo needs the real HOME).
mapfile -t EDITOR_HOME < <(editor_home "$P/home")

# project P: the addon as a game would hold it, and the probe enabled as an editor plugin.
make_project() { addon_project "$P/project" editor-help-test tests/godot/editor-help=editor_help_probe; }

# editor LABEL CLASSES WAIT_MS: one editor run; its dump goes to $OUT/LABEL.json.
editor() {
  local label=$1 classes=$2 wait_ms=$3 t0=$SECONDS status
  rm -f "$OUT/$label.json"
  timeout 120 ip netns exec "$NS" env "${EDITOR_HOME[@]}" "$GODOT" --headless --editor --path "$P/project" -- \
    "--out=$OUT/$label.json" "--classes=$classes" "--wait-ms=$wait_ms" >"$OUT/$label.log" 2>&1
  status=$?
  echo "editor run $label: exit $status, $((SECONDS - t0)) s"
  if ((status != 0)) || [[ ! -s $OUT/$label.json ]]; then
    echo "godot-tests: 0 passed, 1 failed [$label: the editor run wrote no dump]"
    tail -20 "$OUT/$label.log"
    rc=1
    return 1
  fi
}

# check_dump LABEL CLASSES [--engine-names]: compares the dump with the sources.
check_dump() {
  python3 tests/godot/editor_help.py check "$OUT/$1.json" "$2" "${@:3}" >"$OUT/$1.check" 2>&1 || rc=1
  grep -E '^FAIL' "$OUT/$1.check" | head -30
  local summary
  summary=$(grep -E '^godot-tests:' "$OUT/$1.check")
  echo "${summary:-godot-tests: 0 passed, 1 failed} [editor help: $1]"
  [[ -n $summary ]] || { tail -20 "$OUT/$1.check"; rc=1; }
}

# build LABEL CLASSES [--engine-names]: the first editor session after this build's doc
# cache is (re)built is reported only (engine behaviour, see above); the second is checked.
build() {
  local label=$1 classes=$2
  make_project
  if editor "$label-first-session" "$classes" 0; then
    echo "$label, first editor session (doc cache built): $(python3 tests/godot/editor_help.py check \
      "$OUT/$label-first-session.json" "$classes" "${@:3}" --summary)"
  fi
  editor "$label" "$classes" 20000 && check_dump "$label" "$classes" "${@:3}"
}

rust/godot-upnp/build-addon.sh debug || exit 1
build ours RustUPNP,RustUPNPDevice,UPNPPortMapper
# The engine-names build: the same classes under the engine's names. Switching between
# the two builds makes the editor rebuild its doc cache (its file is rewritten at the
# next start, measured both ways), so this build gets a first session of its own.
rust/godot-upnp/build-addon.sh debug --features engine-names || exit 1
build engine-names UPNP,UPNPDevice --engine-names
rust/godot-upnp/build-addon.sh debug || exit 1

exit $rc
