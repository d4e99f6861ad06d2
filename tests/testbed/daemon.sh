# shellcheck shell=bash
# Sourced by igd-up.sh and igd-restart.sh. start_daemon starts the bed's miniupnpd and
# waits until the sockets that are switched on are bound (the daemon opens HTTP, SSDP,
# then NAT-PMP/PCP); it needs ROUTER_NS STATE_DIR CONF MINIUPNPD HTTP_PORT ENABLE_UPNP
# ENABLE_NATPMP and a log function, and appends to $STATE_DIR/miniupnpd.log (igd-up.sh
# runs it in a subshell with the outer router's values too). set_snat sets a router's
# source NAT; it needs BACKEND and NFT_TABLE.

# set_snat NS WAN_IF SOURCES [ADDR]: what SOURCES (prefixes or addresses, comma
# separated) send out WAN_IF leaves from ADDR (no ADDR: no source NAT), in the chain
# igd-up.sh's firewall keeps for it, after miniupnpd's own postrouting rules.
set_snat() {
  local ns=$1 wan=$2 lan_net=$3 addr=${4:-}
  if [[ $BACKEND == nftables ]]; then
    ip netns exec "$ns" nft flush chain inet "$NFT_TABLE" lan_snat
    [[ -z $addr ]] || ip netns exec "$ns" nft add rule inet "$NFT_TABLE" lan_snat \
      oifname "$wan" ip saddr "{ $lan_net }" snat ip to "$addr"
  else
    ip netns exec "$ns" iptables-legacy -w -t nat -F BED-SNAT
    [[ -z $addr ]] || ip netns exec "$ns" iptables-legacy -w -t nat -A BED-SNAT \
      -o "$wan" -s "$lan_net" -j SNAT --to-source "$addr"
  fi
}

sockets_bound() {
  if [[ $ENABLE_UPNP == yes ]]; then
    ip netns exec "$ROUTER_NS" ss -Hltn "sport = :$HTTP_PORT" | grep -q . || return 1
    ip netns exec "$ROUTER_NS" ss -Hlun "sport = :1900" | grep -q . || return 1
  fi
  if [[ $ENABLE_NATPMP == yes ]]; then
    ip netns exec "$ROUTER_NS" ss -Hlun "sport = :5351" | grep -q . || return 1
  fi
  return 0
}

start_daemon() {
  # -d copies each log line to stderr (the log file). With no syslog socket here the
  # daemon (openlog with LOG_CONS) also wrote each line to /dev/console, synchronously:
  # 1 to 4 ms a line, some 25 lines per M-SEARCH, so the router took 50-100 ms per
  # search on a loaded machine and four discoveries at once timed out (router_speed.rs).
  # The console is /dev/null in the daemon's mount namespace ('ip netns exec' makes one
  # that does not propagate back). The shell execs the daemon: $! is miniupnpd's PID.
  # shellcheck disable=SC2016
  ip netns exec "$ROUTER_NS" sh -c '[ ! -e /dev/console ] || mount --bind /dev/null /dev/console || exit 1
    exec "$@"' miniupnpd "$MINIUPNPD" -f "$CONF" -d -P "$STATE_DIR/miniupnpd.pid" \
    >>"$STATE_DIR/miniupnpd.log" 2>&1 &
  echo $! >"$STATE_DIR/daemon.pid"
  log "miniupnpd started, pid $(cat "$STATE_DIR/daemon.pid"), log $STATE_DIR/miniupnpd.log"
  local _
  for _ in $(seq 1 100); do # bounded: 100 x 0.05 s
    if ! kill -0 "$(cat "$STATE_DIR/daemon.pid")" 2>/dev/null; then
      log "miniupnpd exited:"; tail -20 "$STATE_DIR/miniupnpd.log" >&2; return 1
    fi
    if sockets_bound; then return 0; fi
    sleep 0.05
  done
  log "miniupnpd sockets not all bound after 5 s"
  return 1
}
