#!/usr/bin/env bash
# hostile-lan.sh up CLIENT_NS OUT_DIR | down CLIENT_NS OUT_DIR
# Misbehaving UPnP devices on the test bed's LAN for the hostile_lan suite: one igd-sim
# per kind on 10.77.0.100 and up (extra addresses of the client namespace's c0),
# answering every search by multicast loopback inside that namespace. Nothing leaves the
# namespace. `up` returns once every simulator printed READY (at most 10 s).
set -uo pipefail
cd "$(dirname "$0")/../.."
action=$1 ns=$2 out=$3
# kind and extra flags; the last answers each search 10,000 times (a MediaRenderer, so
# never a gateway).
KINDS=(
  "stall" "trickle --trickle-rate 1" "entity-bomb" "huge" "reset" "invalid-xml" "redirect"
  "port-closed" "media-renderer --flood 10000"
)

case $action in
up)
  cargo build -q --locked -p igd-sim || exit 1
  for i in "${!KINDS[@]}"; do
    address="10.77.0.$((100 + i))"
    ip -n "$ns" addr add "$address/24" dev c0 || exit 1
    # shellcheck disable=SC2086 # the flags are words
    ip netns exec "$ns" target/debug/igd-sim --multicast c0 --address "$address" --ssdp echo \
      --duration 600 --ignore-stdin --kind ${KINDS[$i]} >"$out/hostile-$i.out" 2>&1 &
    echo $! >"$out/hostile-$i.pid"
  done
  for i in "${!KINDS[@]}"; do
    for _ in $(seq 100); do grep -q '^READY' "$out/hostile-$i.out" && break; sleep 0.1; done
    grep -q '^READY' "$out/hostile-$i.out" || { echo "igd-sim ${KINDS[$i]} did not start:"; cat "$out/hostile-$i.out"; exit 1; }
  done
  ;;
down)
  for i in "${!KINDS[@]}"; do
    [[ -f $out/hostile-$i.pid ]] && kill "$(cat "$out/hostile-$i.pid")" 2>/dev/null
    rm -f "$out/hostile-$i.pid"
    ip -n "$ns" addr del "10.77.0.$((100 + i))/24" dev c0 2>/dev/null
  done
  ;;
*) echo "usage: $0 up|down CLIENT_NS OUT_DIR" >&2; exit 2 ;;
esac
