#!/usr/bin/env bash
# The demo: the `upnp` CLI against the test-bed router (a real miniupnpd in network
# namespaces): discover, status, add a mapping, list it, delete it. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh
cargo build --quiet --bin upnp
ENVOUT=$(IGD_STATE_DIR=/tmp/godot-upnp-demo tests/testbed/igd-up.sh demo-r demo-c demo-w 2>/dev/null)
trap 'IGD_STATE_DIR=/tmp/godot-upnp-demo tests/testbed/igd-down.sh demo-r demo-c demo-w 2>/dev/null' EXIT
echo "$ENVOUT" | grep -E '^IGD_(ROOTDESC|EXT_IP|CLIENT_IP)='
upnp() { echo; echo "\$ upnp $*"; ip netns exec demo-c target/debug/upnp "$@"; }
upnp discover
upnp status
upnp add 7777 --proto udp --desc "godot-upnp demo" --lease 3600
upnp list
upnp delete 7777 --proto udp
upnp list
