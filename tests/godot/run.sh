#!/usr/bin/env bash
# The headless-Godot suites, every Godot process inside a test-bed client namespace:
#   - our classes (RustUPNP): conformance, offline behaviour, threads, the router suites,
#     hostile script input (bad_input), a Logger calling back into the printing object (logger);
#   - the engine's classes (UPNP) through the same suites, then the differential
#     comparison of what both observed (only documented differences may differ);
#   - the engine-names build (our library registering UPNP / UPNPDevice);
#   - UPNPPortMapper on its own beds (UPnP; UPnP off with NAT-PMP/PCP on; both off; a
#     private WAN address; IGDv1; sequences: restarts from handlers, tree moves, a LAN
#     address change), and a game that quits while the node is discovering and once
#     it has mapped (must exit at once, cleanly: exit code 0, no leak report, nothing
#     left on the router);
#   - forwarding, on beds whose external address the WAN namespace reaches (igd-up.sh
#     IGD_FORWARD=1; UPnP, and UPnP off with NAT-PMP/PCP on): a datagram and a TCP
#     connection from the WAN side (tests/testbed/probe.py) reach the Godot process
#     while UPNPPortMapper or RustUPNP holds the mapping, and are refused once it is
#     removed or the router rebooted, until the node re-adds it;
#   - IPv6 pinholes through RustUPNPDevice on a bed of their own (pinholes suite):
#     status, add/update/delete checked in the router's nft rules, a datagram and a TCP
#     connection from the WAN host to the client's IPv6 address arriving only while the
#     pinhole exists, bad input; then UPNPPortMapper's own pinholes (ipv6) until stop()
#     and after a router reboot, and by PCP on the UPnP-off bed (port_mapper_pcp6);
#   - a panic injected into our code (panic suite); 10,000 add/delete cycles against a
#     simulated router with resident memory measured (memory suite); the router among
#     misbehaving LAN devices (hostile_lan suite, tests/godot/hostile-lan.sh);
#   - every igd-sim router profile through RustUPNP and UPNPPortMapper, and a router
#     that empties its table (router_profiles suite: it starts each simulator itself,
#     on a bed where no other router answers; the unicast-only and link-local ones in
#     the router namespace), and a warm start by a link-local router's remembered URL.
# Every run fails if Godot reports objects leaked at exit.
# Prints each Godot run's "godot-tests: N passed, M failed" and exits non-zero on failure.
# Needs root; GODOT selects the binary (default: godot4 from tests/setup.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
GODOT=${GODOT:-godot4}
OUT=${TEST_LOG_DIR:-$ROOT/target/test-logs}/godot
mkdir -p "$OUT"
rc=0

bed_up() { # NAME [ENV=VALUE...]: brings up bed gd-NAME, prints its IGD_* lines to $OUT/NAME.env
  local name=$1; shift
  env IGD_STATE_DIR="/tmp/godot-upnp-gd-$name" "$@" \
    tests/testbed/igd-up.sh "gd-$name-r" "gd-$name-c" "gd-$name-w" >"$OUT/$name.env" 2>"$OUT/$name.bed.log" ||
    { echo "bed $name did not come up:"; tail -5 "$OUT/$name.bed.log"; exit 1; }
}
bed_down() {
  IGD_STATE_DIR="/tmp/godot-upnp-gd-$1" tests/testbed/igd-down.sh "gd-$1-r" "gd-$1-c" "gd-$1-w" 2>/dev/null
}
trap 'tests/godot/hostile-lan.sh down gd-hostile-c "$OUT"; for b in v2 noroute private map pmp off hostile v1 seq vpn vpnpmp fwd fwdpmp stun hidden dnpriv profiles ph; do bed_down $b; done' EXIT

# godot BED LABEL ARGS...: one headless run in the bed's client namespace.
godot() {
  local bed=$1 label=$2; shift 2
  local log="$OUT/$label.log"
  # shellcheck disable=SC2046
  timeout 300 ip netns exec "gd-$bed-c" "$GODOT" --headless --path godot-project \
    --script res://tests/runner.gd -- "$@" $(grep -E '^IGD_' "$OUT/$bed.env") >"$log" 2>&1
  local status=$?
  local summary
  summary=$(grep -E '^godot-tests:' "$log" | tail -1)
  echo "${summary:-godot-tests: 0 passed, 1 failed} [$label]"
  if ((status != 0)) || [[ -z $summary ]]; then
    rc=1
    grep -E '^(FAIL|     [^ ])' "$log" | head -30
    [[ -n $summary ]] || tail -20 "$log"
  fi
  # Godot reports objects still alive at exit ("ObjectDB instances leaked at exit").
  if grep -qi 'leaked' "$log"; then
    echo "godot-tests: 0 passed, 1 failed [$label: objects leaked at exit]"
    grep -i 'leaked' "$log" | head -5
    rc=1
  fi
}

# other_host_maps BED PORT: the second LAN address (10.77.0.3) maps PORT/UDP, as another
# computer on the LAN would (curl from that address, independent of the code under test).
other_host_maps() {
  local body="<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><u:AddPortMapping xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:1\"><NewRemoteHost></NewRemoteHost><NewExternalPort>$2</NewExternalPort><NewProtocol>UDP</NewProtocol><NewInternalPort>$2</NewInternalPort><NewInternalClient>10.77.0.3</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>other-host</NewPortMappingDescription><NewLeaseDuration>3600</NewLeaseDuration></u:AddPortMapping></s:Body></s:Envelope>"
  local code
  code=$(ip netns exec "gd-$1-c" curl -s -m 5 -o /dev/null -w '%{http_code}' --interface 10.77.0.3 \
    -H 'SOAPAction: "urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping"' \
    -H 'Content-Type: text/xml' --data "$body" http://10.77.0.1:5000/ctl/IPConn)
  [[ $code == 200 ]] || { echo "the other LAN host could not map port $2 (HTTP $code)"; rc=1; }
}

rust/godot-upnp/build-addon.sh debug || exit 1
bed_up v2
bed_up noroute IGD_MCAST_ROUTE=0
bed_up private IGD_EXT_IP=none
bed_up map
bed_up pmp IGD_ENABLE_UPNP=no IGD_CLIENT_DEFAULT_ROUTE=1
bed_up off IGD_ENABLE_UPNP=no IGD_ENABLE_NATPMP=no IGD_CLIENT_DEFAULT_ROUTE=1
bed_up hostile IGD_CLIENT_DEFAULT_ROUTE=1  # a real LAN has one: the gateway search socket
bed_up v1 IGD_FORCE_V1=yes
bed_up seq
bed_up vpn IGD_VPN_ROUTE=1
bed_up vpnpmp IGD_VPN_ROUTE=1 IGD_ENABLE_UPNP=no
bed_up fwd IGD_FORWARD=1
bed_up fwdpmp IGD_FORWARD=1 IGD_ENABLE_UPNP=no IGD_CLIENT_DEFAULT_ROUTE=1
# STUN (coturn on the WAN host): one router, a NAT hidden behind a public-looking router
# address, and a router with a private WAN address behind another real router.
bed_up stun IGD_FORWARD=1 IGD_STUN=1
bed_up hidden IGD_OUTER=hidden IGD_STUN=1
bed_up dnpriv IGD_OUTER=private IGD_STUN=1
# No router daemon (UPnP and NAT-PMP off): only the suite's simulator, on 10.77.0.50 or,
# for the routers found only at the default gateway or by IPv6, on the router's lan0
# (the default route makes 10.77.0.1 the client's gateway).
# IPv6 pinholes (IPv6 works on every bed; this one's firewall rules are the suite's alone).
bed_up ph
bed_up profiles IGD_ENABLE_UPNP=no IGD_ENABLE_NATPMP=no IGD_CLIENT_DEFAULT_ROUTE=1
ip -n gd-profiles-c addr add 10.77.0.50/24 dev c0 || exit 1
other_host_maps v2 41900
other_host_maps v2 42900
other_host_maps v2 43900
other_host_maps map 45900
other_host_maps v1 46900

ENGINE=(--upnp-class=UPNP --device-class=UPNPDevice)
godot v2 ours --suite=conformance --suite=api --suite=threads --suite=router --suite=example --suite=bad_input \
  --suite=logger PORT_BASE=41000 HELD_PORT=41900 OBSERVATIONS="$OUT/ours.json"
godot v2 engine "${ENGINE[@]}" --suite=api --suite=router --suite=logger PORT_BASE=42000 HELD_PORT=42900 \
  OBSERVATIONS="$OUT/engine.json"
godot noroute ours-noroute --suite=multicast_if OBSERVATIONS="$OUT/ours-noroute.json"
godot noroute engine-noroute "${ENGINE[@]}" --suite=multicast_if OBSERVATIONS="$OUT/engine-noroute.json"
godot private ours-private --suite=private_wan OBSERVATIONS="$OUT/ours-private.json"
godot private engine-private "${ENGINE[@]}" --suite=private_wan OBSERVATIONS="$OUT/engine-private.json"
godot v2 differential --suite=differential OUTDIR="$OUT"
# A panic injected into our code (debug build; see panic_guard.rs) must reach the script as
# one error line and UNKNOWN_ERROR, the object staying usable.
GODOT_UPNP_TEST_PANICS=1 godot v2 panic --suite=panic PORT_BASE=44000

# The memory suite's router: igd-sim, a simulated IGD, on the client namespace's loopback
# (10,000 add/delete cycles; miniupnpd rewrites nftables for each).
cargo build -q --locked -p igd-sim || exit 1
ip netns exec gd-v2-c target/debug/igd-sim --unicast 127.0.0.1:0 --duration 300 --ignore-stdin \
  >"$OUT/memory-sim.out" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do grep -q '^READY' "$OUT/memory-sim.out" && break; sleep 0.1; done
godot v2 memory --suite=memory SIM_CONTROL_URL="$(awk '$1 == "CONTROL" && $2 == 0 { print $3 }' "$OUT/memory-sim.out")"
kill "$sim_pid" 2>/dev/null

# Each igd-sim router profile (one simulator at a time, multicast on the bed's LAN).
godot profiles router-profiles --suite=router_profiles PORT_BASE=45000 SIM="$ROOT/target/debug/igd-sim" \
  SIM_ADDRESS=10.77.0.50
godot profiles router-ipv6-firewall --suite=router_ipv6_firewall PORT_BASE=45100 SIM="$ROOT/target/debug/igd-sim"

# The router among misbehaving devices (stalling, trickling, bombs, floods...).
tests/godot/hostile-lan.sh up gd-hostile-c "$OUT" || exit 1
godot hostile hostile-lan --suite=hostile_lan PORT_BASE=48000
tests/godot/hostile-lan.sh down gd-hostile-c "$OUT"
godot pmp mapper-pmp --suite=port_mapper_pmp PORT_BASE=47000
godot pmp mapper-pcp6 --suite=port_mapper_pcp6 PORT_BASE=47100
godot off mapper-off --suite=port_mapper_off PORT_BASE=47000
godot private mapper-private --suite=port_mapper_private PORT_BASE=47000
godot fwd forwarding --suite=forwarding PORT_BASE=49000
godot ph pinholes --suite=pinholes PORT_BASE=49500
godot fwdpmp forwarding-pmp --suite=forwarding_pmp PORT_BASE=49000
godot stun mapper-stun-same --suite=port_mapper_stun EXPECT=same PORT_BASE=49100
godot hidden mapper-stun-hidden --suite=port_mapper_stun EXPECT=hidden PORT_BASE=49100
godot dnpriv mapper-stun-none --suite=port_mapper_stun EXPECT=none PORT_BASE=49100
# quit_game runs on the map bed before the suite that restarts its router.

# quit_game BED WHEN: a game quits while UPNPPortMapper is discovering or once it has
# mapped (quit_game.gd --when=...); afterwards the router must hold nothing of it.
quit_game() {
  local log="$OUT/quit-$2.log" t0 t1 status
  t0=$(date +%s%N)
  timeout 60 ip netns exec "gd-$1-c" "$GODOT" --headless --path godot-project \
    --script res://tests/quit_game.gd -- "--when=$2" >"$log" 2>&1
  status=$?
  t1=$(date +%s%N)
  local line port left total_ms=$(((t1 - t0) / 1000000))
  line=$(grep -E '^quit-test: quitting at' "$log")
  port=$(sed -n 's/^quit-test: .*(port \([0-9]*\),.*/\1/p' <<<"$line")
  # A quit while discovering may leave the worker to finish in the background for a
  # moment: give the router time to see anything it would still add.
  sleep 0.5
  left=$(grep -cE "^(UDP|TCP):${port:-0}:" "/tmp/godot-upnp-gd-$1/upnp.leases" 2>/dev/null)
  if ((status == 0)) && [[ -n $port ]] && ! grep -qi 'leaked' "$log" && ((${left:-0} == 0)); then
    echo "godot-tests: 1 passed, 0 failed [quit while $2: exit 0, process ended ${total_ms} ms after start; ${line#quit-test: }; router holds nothing]"
  else
    echo "godot-tests: 0 passed, 1 failed [quit while $2: exit $status, ${left:-0} mapping(s) left on the router]"
    tail -20 "$log"
    rc=1
  fi
}
quit_game map discovering
quit_game map mapped
godot map mapper --suite=port_mapper PORT_BASE=45000 HELD_PORT=45900
godot v1 mapper-v1 --suite=port_mapper_v1 PORT_BASE=46000 HELD_PORT=46900
# Last on its bed: it changes the client's LAN address.
godot seq mapper-sequences --suite=port_mapper_sequences PORT_BASE=46000
# A VPN holds the default route: the router is found on the LAN interface anyway.
godot vpn vpn-route --suite=vpn_route PORT_BASE=46100
godot vpnpmp vpn-route-pmp --suite=vpn_route_pmp PORT_BASE=46100

# The engine-names build: our library under the engine's class names.
rust/godot-upnp/build-addon.sh debug --features engine-names || exit 1
godot v2 engine-names "${ENGINE[@]}" --suite=engine_names --suite=conformance --suite=api --suite=threads --suite=router \
  PORT_BASE=43000 HELD_PORT=43900
rust/godot-upnp/build-addon.sh debug || exit 1

exit $rc
