#!/usr/bin/env bash
# The README's guide, followed as a new user would, on a fresh project and a real router:
#   - extracts every code block the README marks with `<!-- guide-test: NAME -->` (the
#     line before its fence), so what is tested is what the README says;
#   - checks the GDScript blocks with gdformat/gdlint (when gdtoolkit is installed);
#   - makes a throw-away project holding only project.godot and addons/godot-upnp/ (as
#     the release zip installs it; built by rust/godot-upnp/build-addon.sh), checks that
#     the classes are missing before the import, runs the guide's import commands as
#     written (`godot` being $GODOT; on a fresh editor configuration: XDG_* point into
#     the temporary directory), and that the guide's CI job runs the same lines;
#   - brings up a test bed (gu-r/gu-c/gu-w) and runs, headless in its client namespace,
#     the 30-second path's scene (host.tscn + host.gd), the opening example, the web
#     guard and the class reference's RustUPNP-on-a-Thread example, each unmodified
#     under a wrapper (godot-project/tests/readme_guide_runner.gd) that only watches and
#     quits. For each: port_mapped (or upnp_completed OK) arrived, the router's lease
#     file holds the mapping for this computer, the status line is shown, and the
#     mappings the node made are gone from the router once the game quits.
# GUIDE_ZIP=path/to/godot-upnp-VERSION.zip installs the addon from that zip, as the guide's
# install step says, instead of copying the freshly built addons/godot-upnp/.
# Prints one "godot-tests: N passed, M failed" line; exits non-zero on failure. Needs root.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
GODOT=${GODOT:-godot4}
GDTOOLKIT_BIN=${GDTOOLKIT_BIN:-/opt/godot-upnp-gdtoolkit/bin}
OUT=${TEST_LOG_DIR:-$ROOT/target/test-logs}/readme-guide
BED=(gu-r gu-c gu-w)
export IGD_STATE_DIR=/tmp/godot-upnp-gu
LEASES=$IGD_STATE_DIR/upnp.leases
CLIENT=10.77.0.2   # the bed's client address (tests/testbed/igd-up.sh)
rm -rf "$OUT" && mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/godot-upnp-guide.XXXXXX)
# A machine where Godot never ran: no editor settings, doc cache or user:// data (no
# remembered gateway either), and nothing shared with other runs.
export XDG_CONFIG_HOME=$WORK/config XDG_CACHE_HOME=$WORK/cache XDG_DATA_HOME=$WORK/data
GAME=$WORK/game
t0=$SECONDS

trap 'tests/testbed/igd-down.sh "${BED[@]}" 2>/dev/null; rm -rf "$WORK" "$IGD_STATE_DIR"' EXIT

source tests/lib/checks.sh
fail() { ok 1 "$*"; }
finish() {
  summary godot "readme guide, $((SECONDS - t0)) s"
  exit
}

# --- The README's marked blocks --------------------------------------------------------
mkdir -p "$WORK/blocks"
awk -v dir="$WORK/blocks" '
  match($0, /^<!-- guide-test: [A-Za-z0-9_.-]+ -->$/) { name = $3; want = 1; next }
  want && /^```/ { want = 0; file = dir "/" name; printf "" > file; next }
  file && /^```$/ { close(file); file = ""; next }
  file { print > file }
  { want = 0 }
' README.md
for block in intro.gd host.gd host.tscn upnp_thread.gd web_guard.gd import.sh ci.yml; do
  [[ -s $WORK/blocks/$block ]] || fail "README block $block (marked <!-- guide-test: $block -->) missing or empty"
done
((failed == 0)) || finish
blocks=("$WORK"/blocks/*)
ok 0 "README: ${#blocks[@]} marked blocks extracted"

gd_blocks=("$WORK"/blocks/*.gd)
if [[ -x $GDTOOLKIT_BIN/gdformat ]]; then
  lint() { "$GDTOOLKIT_BIN/$1" "${@:2}" >"$OUT/$1.log" 2>&1 || { cat "$OUT/$1.log"; return 1; }; }
  check "README GDScript blocks are gdformat-clean" lint gdformat --check "${gd_blocks[@]}"
  check "README GDScript blocks are gdlint-clean" lint gdlint "${gd_blocks[@]}"
else
  echo "(gdtoolkit not at $GDTOOLKIT_BIN: README blocks not linted)"
fi
while IFS= read -r line; do
  [[ -z $line || $line == \#* ]] && continue
  check "the guide's CI job runs the same line: $line" grep -qF -- "$line" "$WORK/blocks/ci.yml"
done <"$WORK/blocks/import.sh"
check "the guide's CI job is valid YAML with one job" python3 -c '
import sys, yaml
jobs = yaml.safe_load(open(sys.argv[1]))["jobs"]
sys.exit(0 if len(jobs) == 1 else 1)' "$WORK/blocks/ci.yml"

# --- A fresh project, installed as the guide says ----------------------------------------
mkdir -p "$GAME"
printf 'config_version=5\n\n[application]\n\nconfig/name="Guide test"\n' >"$GAME/project.godot"
if [[ -n ${GUIDE_ZIP:-} ]]; then
  # The install step itself: the release zip extracted into the project's folder.
  check "the zip $GUIDE_ZIP extracts addons/godot-upnp/ into the project" \
    bash -c 'unzip -q "$1" -d "$2" && test -f "$2/addons/godot-upnp/godot-upnp.gdextension"' _ "$GUIDE_ZIP" "$GAME"
else
  rust/godot-upnp/build-addon.sh debug >"$OUT/build.log" 2>&1 || { fail "build-addon.sh (see $OUT/build.log)"; finish; }
  mkdir -p "$GAME/addons" && cp -r addons/godot-upnp "$GAME/addons/"
fi
cp godot-project/tests/readme_guide_runner.gd "$GAME/"
cat >"$GAME/class_exists.gd" <<'EOF'
extends SceneTree


func _initialize() -> void:
	print("class_exists: %s" % ClassDB.class_exists("UPNPPortMapper"))
	quit()
EOF
"$GODOT" --headless --path "$GAME" --script res://class_exists.gd >"$OUT/before-import.log" 2>&1
check "before the import a never-opened project has no UPNPPortMapper" grep -q '^class_exists: false' "$OUT/before-import.log"

t_import=$(date +%s%N)
(cd "$GAME" && godot() { "$GODOT" "$@"; } && source "$WORK/blocks/import.sh") >"$OUT/import.log" 2>&1
import_rc=$?
t_import=$((($(date +%s%N) - t_import) / 1000000))
check "the guide's import command exits 0 (${t_import} ms)" test "$import_rc" -eq 0
check "the import wrote .godot/extension_list.cfg naming the addon" \
  grep -qx 'res://addons/godot-upnp/godot-upnp.gdextension' "$GAME/.godot/extension_list.cfg"
"$GODOT" --headless --path "$GAME" --script res://class_exists.gd >"$OUT/after-import.log" 2>&1
check "after the import the classes exist" grep -q '^class_exists: true' "$OUT/after-import.log"
for block in intro.gd host.gd host.tscn upnp_thread.gd web_guard.gd; do cp "$WORK/blocks/$block" "$GAME/"; done

# --- On the router -------------------------------------------------------------------------
tests/testbed/igd-up.sh "${BED[@]}" >"$OUT/bed.env" 2>"$OUT/bed.log" || { fail "test bed (see $OUT/bed.log)"; finish; }

# leases PORT: the router's lease lines for PORT to this computer (UDP:7777:10.77.0.2:7777:...).
leases() { grep -E "^(UDP|TCP):$1:$CLIENT:" "$LEASES" 2>/dev/null; }

# run_case LABEL CASE WAIT PORT PROTOCOLS REMOVED: runs the guide's CASE (res:// path) with
# the wrapper in the client namespace, checks the router while it holds the port, then
# (REMOVED=yes) that quitting removed the mappings.
run_case() {
  local label=$1 case=$2 wait=$3 port=$4 protocols=$5 removed=$6
  local log="$OUT/$label.log" done="$WORK/$label.done" pid status t_case proto failed_before=$failed
  t_case=$(date +%s%N)
  timeout 60 ip netns exec "${BED[1]}" "$GODOT" --headless --path "$GAME" --script res://readme_guide_runner.gd -- \
    "--case=$case" "--wait=$wait" "--done=$done" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    grep -q '^guide-test: \(mapped after\|timeout\)' "$log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  check "$label: $(grep -m1 -o 'mapped after [0-9]* ms' "$log" || echo 'nothing mapped')" \
    grep -q '^guide-test: mapped after' "$log"
  for proto in $protocols; do
    check "$label: the router's lease file holds $proto $port for $CLIENT" grep -q "^$proto:" <(leases "$port")
  done
  touch "$done"
  wait "$pid"
  status=$?
  t_case=$((($(date +%s%N) - t_case) / 1000000))
  check "$label: exit code 0, no script error, nothing leaked (${t_case} ms in all)" \
    bash -c '(($1 == 0)) && ! grep -qiE "SCRIPT ERROR|leaked" "$2"' _ "$status" "$log"
  if [[ $removed == yes ]]; then
    sleep 0.5   # the removal finishes in the background as the game quits
    check "$label: quitting removed the mappings from the router" bash -c '! grep -qsE "^(UDP|TCP):$1:" "$2"' _ \
      "$port" "$LEASES"
  fi
  if ((failed > failed_before)); then grep -v '^ *at: ' "$log" | tail -15; fi
}

run_case host res://host.tscn mapper 7777 "UDP TCP" yes
check "host: get_status_text() says the port is open on the router's address" \
  grep -q '^guide-test: status: UDP 7777, TCP 7777 open on 11.22.33.44 (UPnP)$' "$OUT/host.log"
check "host: the StatusLabel shows that line" \
  grep -q '^guide-test: label: UDP 7777, TCP 7777 open on 11.22.33.44 (UPnP)$' "$OUT/host.log"
check "host: the guide's port_mapped handler printed" grep -q '^UDP 11.22.33.44:7777 is open (UPnP)$' "$OUT/host.log"
run_case intro res://intro.gd mapper 7777 "UDP TCP" yes
check "intro: the guide's handler printed" grep -q '^Players can join at 11.22.33.44:7777 (UDP)$' "$OUT/intro.log"
run_case web-guard res://web_guard.gd mapper 7777 "UDP TCP" yes
# The class reference's example maps UDP 3928 and leaves it (no delete in it).
run_case upnp-thread res://upnp_thread.gd completed 3928 UDP no
finish
