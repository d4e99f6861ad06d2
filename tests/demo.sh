#!/usr/bin/env bash
# The demo, on a fresh machine: installs what it needs (tests/setup.sh), brings up the
# test-bed router (a real miniupnpd in network namespaces) and runs
#   1. the Godot demo scene headless (godot-project/demo: the addon's RustUPNP discovers
#      the router, prints its fields and external address, maps a port, removes it), then
#      the router's own log lines for that mapping;
#   2. the UPNPPortMapper scene headless (demo/port_mapper_demo.tscn: the node maps a port
#      for UDP and TCP, prints its signals and status, stop() removes the mappings), then
#      the router's log lines for that port;
#   3. the `upnp` CLI: discover, status, add, list, delete, list.
# Needs root. GODOT selects another Godot binary; DEMO_NS the prefix of the test bed's
# namespaces (default demo: demo-r, demo-c, demo-w) and DEMO_STATE_DIR its state directory.
set -euo pipefail
cd "$(dirname "$0")/.."
GODOT=${GODOT:-godot4}
PORT=3928
MAPPER_PORT=3929
NS=${DEMO_NS:-demo}
tests/setup.sh
rust/godot-upnp/build-addon.sh debug >/dev/null
cargo build --quiet --bin upnp
STATE=${DEMO_STATE_DIR:-/tmp/godot-upnp-$NS}
ENVOUT=$(IGD_STATE_DIR=$STATE tests/testbed/igd-up.sh "$NS-r" "$NS-c" "$NS-w" 2>/dev/null)
trap 'IGD_STATE_DIR=$STATE tests/testbed/igd-down.sh "$NS-r" "$NS-c" "$NS-w" 2>/dev/null' EXIT
echo "$ENVOUT" | grep -E '^IGD_(ROOTDESC|EXT_IP|CLIENT_IP)='

echo
echo "\$ godot --headless --path godot-project -- --port=$PORT    (the demo scene)"
ip netns exec "$NS-c" "$GODOT" --headless --path godot-project -- --port=$PORT 2>&1 |
  grep -vE '^(Godot Engine|Initialize godot-rust)|^$'
echo
echo "The router's log for port $PORT:"
grep -E "(AddPortMapping|DeletePortMapping).*\b$PORT\b" "$STATE/miniupnpd.log" | sed 's/^/  /'

echo
echo "\$ godot --headless --path godot-project res://demo/port_mapper_demo.tscn -- --port=$MAPPER_PORT    (the UPNPPortMapper scene)"
# The scene quits by itself (20 s at most); the outer timeout only guards against a hang.
timeout 60 ip netns exec "$NS-c" "$GODOT" --headless --path godot-project \
  res://demo/port_mapper_demo.tscn -- --port=$MAPPER_PORT 2>&1 |
  grep -vE '^(Godot Engine|Initialize godot-rust)|^$'
echo
echo "The router's log for port $MAPPER_PORT:"
grep -E "(AddPortMapping|DeletePortMapping).*\b$MAPPER_PORT\b" "$STATE/miniupnpd.log" | sed 's/^/  /'

upnp() { echo; echo "\$ upnp $*"; ip netns exec "$NS-c" target/debug/upnp "$@"; }
upnp discover
upnp status
upnp add 7777 --proto udp --desc "godot-upnp demo" --lease 3600
upnp list
upnp delete 7777 --proto udp
upnp list
