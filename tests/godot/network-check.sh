#!/usr/bin/env bash
# The optional "Network check" editor dock (issue 16 item 5; addons/godot-upnp/plugin.cfg,
# addons/godot-upnp/editor/): the Godot editor, run headless in a test bed's client
# namespace on a throw-away project with the addon, enables the plugin and a probe plugin
# (tests/godot/network-check/) that presses the dock's two buttons:
#   - a router with UPnP (and NAT-PMP/PCP): the check names the router, this computer's
#     address, the external address and its kind, and what players would see; the test
#     mapping opens UDP and TCP by UPnP and removes them (nothing left on the router);
#   - a router with only NAT-PMP/PCP: the check finds no UPnP router and says so; the
#     test mapping opens the port by PCP/NAT-PMP and removes it;
#   - a router behind another router (it reports no external address): the check says
#     so and why players cannot connect, and the test mapping fails for that reason;
# both while the editor keeps drawing frames (each run is a process of its own, waited
# for on a Thread); and without the plugin enabled there is no dock (off by default).
#
# The editor has its own settings and cache directories (not the machine's). Prints
# "godot-tests: N passed, M failed"; exits non-zero on failure. Needs root.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
GODOT=${GODOT:-godot4}
OUT=${TEST_LOG_DIR:-$ROOT/target/test-logs}/netcheck
mkdir -p "$OUT"
P=$(mktemp -d /tmp/godot-upnp-netcheck.XXXXXX)
BEDS=(upnp pmp private)
PORT=47999
bed_down() {
  IGD_STATE_DIR="/tmp/godot-upnp-eh-nc-$1" tests/testbed/igd-down.sh "eh-nc$1-r" "eh-nc$1-c" "eh-nc$1-w" 2>/dev/null
  rm -rf "/tmp/godot-upnp-eh-nc-$1"
}
trap 'for b in "${BEDS[@]}"; do bed_down "$b"; done; rm -rf "$P"' EXIT
source tests/lib/checks.sh
mapfile -t EDITOR_HOME < <(editor_home "$P/home")

bed_up() { # NAME [ENV=VALUE...]
  local name=$1; shift
  env IGD_STATE_DIR="/tmp/godot-upnp-eh-nc-$name" "$@" tests/testbed/igd-up.sh "eh-nc$name-r" "eh-nc$name-c" \
    "eh-nc$name-w" >"$OUT/$name.env" 2>"$OUT/$name.bed.log" || { echo "bed $name did not come up:"; tail -5 "$OUT/$name.bed.log"; exit 1; }
}

# project [godot-upnp]: the addon and the probe (enabled), and the addon's own plugin when named.
project() { addon_project "$P/project" network-check-test "$@" tests/godot/network-check=network_check_probe; }

# editor BED LABEL: one editor run in the bed's client namespace; the dump is $OUT/LABEL.json.
editor() {
  local t0=$SECONDS
  rm -f "$OUT/$2.json"
  timeout 120 ip netns exec "eh-nc$1-c" env "${EDITOR_HOME[@]}" "$GODOT" --headless --editor --path "$P/project" -- "--out=$OUT/$2.json" "--port=$PORT" >"$OUT/$2.log" 2>&1
  echo "editor run $2: exit $?, $((SECONDS - t0)) s"
}

# field LABEL PATH: a value from the dump ("check.text", "map.frames"...).
field() {
  python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v.get(k, "") if isinstance(v, dict) else ""
print(v)' "$OUT/$1.json" "$2" 2>/dev/null
}
shows() { [[ $(field "$1" "$2.text") == *"$3"* ]]; }
# Mappings on the test port in the router's lease file (absent until its first mapping).
leases_for_port() { cat "/tmp/godot-upnp-eh-nc-$1/upnp.leases" 2>/dev/null | grep -c ":$PORT:"; }

rust/godot-upnp/build-addon.sh debug || exit 1
bed_up upnp
bed_up pmp IGD_ENABLE_UPNP=no IGD_CLIENT_DEFAULT_ROUTE=1
bed_up private IGD_OUTER=private
project
editor upnp off-by-default
[[ $(field off-by-default dock_found) == False ]]; ok $? "off by default: no dock unless the plugin is enabled"

project godot-upnp
editor upnp upnp
[[ $(field upnp dock_found) == True ]]; ok $? "plugin enabled: the Network check dock is there"
shows upnp check "Router (UPnP): http://10.77.0.1:5000/rootDesc.xml"; ok $? "UPnP router: the check names the router"
shows upnp check "This computer, as the router sees it: 10.77.0.2"; ok $? "UPnP router: this computer's address"
shows upnp check "External address: 11.22.33.44 (public)"; ok $? "UPnP router: the external address and its kind"
shows upnp check "Players: connect to 11.22.33.44"; ok $? "UPnP router: what players would see"
shows upnp map "Mapped UDP $PORT on 11.22.33.44 by UPnP." && shows upnp map "Mapped TCP $PORT on 11.22.33.44 by UPnP." &&
  shows upnp map "Result 0: UDP $PORT, TCP $PORT open on 11.22.33.44 (UPnP)"
ok $? "UPnP router: the test mapping opens UDP and TCP $PORT by UPnP"
shows upnp map "Removed: Stopped; the port mappings were removed." && [[ $(leases_for_port upnp) == 0 ]]
ok $? "UPnP router: the test mapping is removed (the router holds nothing on port $PORT)"
frames=$(field upnp check.frames)
((frames >= 10)); ok $? "the editor keeps running during a check ($frames frames in $(field upnp check.ms) ms)"

editor pmp pmp
shows pmp check "No UPnP router"; ok $? "NAT-PMP/PCP router: the check finds no UPnP router and says so"
method=$(field pmp map.text | sed -n 's/^Mapped UDP .* by \(PCP\|NAT-PMP\)\.$/\1/p')
shows pmp map "Result 0: UDP $PORT, TCP $PORT open on 11.22.33.44 ($method)" && [[ -n $method ]]
ok $? "NAT-PMP/PCP router: the test mapping opens UDP and TCP $PORT by ${method:-neither}"
shows pmp map "Removed: Stopped; the port mappings were removed." && [[ $(leases_for_port pmp) == 0 ]]
ok $? "NAT-PMP/PCP router: the test mapping is removed"

editor private private
# miniupnpd reports no address rather than its private one (as many routers do).
shows private check "External address: none reported (none)" &&
  shows private check "Players: The router reports no public address: it is behind carrier-grade NAT or another router"
ok $? "router behind another router: no external address, and why players cannot connect"
shows private map "Result 16: The router reports no public address" && [[ $(leases_for_port private) == 0 ]]
ok $? "router behind another router: the test mapping fails with the same reason, nothing left"

for label in upnp pmp private; do
  echo "--- the dock showed, $label:"
  field "$label" check.text | sed 's/^/  check: /'
  field "$label" map.text | sed 's/^/  map:   /'
done
summary godot
