#!/usr/bin/env bash
# The demo, on a fresh machine: installs what it needs (tests/setup.sh), brings up the
# test-bed router (a real miniupnpd in network namespaces) and runs
#   1. the Godot demo scene headless (godot-project/demo: the addon's RustUPNP discovers
#      the router, prints its fields and external address, maps a port, removes it), then
#      the router's own log lines for that mapping;
#   2. the `upnp` CLI: discover, status, add, list, delete, list.
# Needs root. GODOT selects another Godot binary.
set -euo pipefail
cd "$(dirname "$0")/.."
GODOT=${GODOT:-godot4}
PORT=3928
tests/setup.sh
rust/godot-upnp/build-addon.sh debug >/dev/null
cargo build --quiet --bin upnp
STATE=/tmp/godot-upnp-demo
ENVOUT=$(IGD_STATE_DIR=$STATE tests/testbed/igd-up.sh demo-r demo-c demo-w 2>/dev/null)
trap 'IGD_STATE_DIR=$STATE tests/testbed/igd-down.sh demo-r demo-c demo-w 2>/dev/null' EXIT
echo "$ENVOUT" | grep -E '^IGD_(ROOTDESC|EXT_IP|CLIENT_IP)='

echo
echo "\$ godot --headless --path godot-project -- --port=$PORT    (the demo scene)"
ip netns exec demo-c "$GODOT" --headless --path godot-project -- --port=$PORT 2>&1 |
  grep -vE '^(Godot Engine|Initialize godot-rust)|^$'
echo
echo "The router's log for port $PORT:"
grep -E "(AddPortMapping|DeletePortMapping).*\b$PORT\b" "$STATE/miniupnpd.log" | sed 's/^/  /'

upnp() { echo; echo "\$ upnp $*"; ip netns exec demo-c target/debug/upnp "$@"; }
upnp discover
upnp status
upnp add 7777 --proto udp --desc "godot-upnp demo" --lease 3600
upnp list
upnp delete 7777 --proto udp
upnp list
