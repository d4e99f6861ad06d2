#!/bin/bash
# Restart the miniupnpd of a running test bed (made by igd-up.sh) in place: same
# namespaces, links, firewall skeleton and state directory; only the daemon is
# replaced, as when a router reboots or its provider hands it a new address.
#
# Usage: igd-restart.sh [ROUTER_NS]
# Environment (all optional):
#   IGD_STATE_DIR       the bed's state directory (default: $TMPDIR/igd-<router ns>,
#                       as for igd-up.sh); its bed.env says how the bed was made
#   IGD_EXT_IP          the external address the new daemon reports (an IPv4 address,
#                       or none, as for igd-up.sh); default: keep the current one. On a
#                       bed made with IGD_FORWARD=1 the address on the router's wan0, the
#                       WAN host's route to it and the router's source NAT move to the
#                       new address (none: all three go). Not on a bed with an outer
#                       router (igd-up.sh IGD_OUTER), whose WAN address is the router's
#                       interface address there. Only the router's daemon restarts, not
#                       the outer router's.
#   IGD_CLEAR_LEASES=1  forget every mapping, as a rebooted router does: the lease file
#                       is removed and the firewall's mapping chains are flushed.
#                       Without it the new daemon reloads the mappings from the lease
#                       file (a daemon restart that keeps its state).
# Returns once the new daemon's sockets (HTTP and SSDP when UPnP is on, NAT-PMP/PCP
# when that is on) are bound, as igd-up.sh does.
# Prints IGD_EXT_IP=... and IGD_DAEMON_PID=... on stdout; logs on stderr. Only the
# daemon this bed started is stopped (checked by PID, name and namespace).
set -euo pipefail

ROUTER_NS=${1:-${IGD_ROUTER_NS:-igd-router}}
STATE_DIR=${IGD_STATE_DIR:-${TMPDIR:-/tmp}/igd-$ROUTER_NS}
CONF=$STATE_DIR/miniupnpd.conf

log() { printf '[igd-restart %s] %s\n' "$(date +%T.%N | cut -c1-12)" "$*" >&2; }
T0=$(date +%s.%N)

# shellcheck source=tests/testbed/daemon.sh
source "$(dirname "${BASH_SOURCE[0]}")/daemon.sh"

[[ -f $STATE_DIR/bed.env && -f $CONF ]] || { log "no bed in $STATE_DIR (run igd-up.sh first)"; exit 1; }
WANT_NS=$ROUTER_NS
# shellcheck source=/dev/null
source "$STATE_DIR/bed.env"
[[ $ROUTER_NS == "$WANT_NS" ]] || { log "$STATE_DIR belongs to the bed of $ROUTER_NS, not $WANT_NS"; exit 1; }

if [[ -n ${IGD_EXT_IP:-} && -n ${OUTER:-} ]]; then
  log "IGD_EXT_IP cannot change on a bed with an outer router (IGD_OUTER=$OUTER)"; exit 1
fi
if [[ -n ${IGD_EXT_IP:-} && $IGD_EXT_IP != none && ! $IGD_EXT_IP =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; then
  log "IGD_EXT_IP must be an IPv4 address or none, not '$IGD_EXT_IP'"; exit 1
fi

# 1. stop the daemon, only if it still is miniupnpd inside this bed's router ns
pid=$(cat "$STATE_DIR/daemon.pid" 2>/dev/null || true)
if [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == miniupnpd ]] \
   && ip netns pids "$ROUTER_NS" | grep -qx "$pid"; then
  log "stopping miniupnpd pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  # bounded: 100 x 0.05 s (it needs about 1 s: ssdp:byebye, lease file, rules)
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored SIGTERM, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
else
  log "no running miniupnpd recorded for $ROUTER_NS; starting one"
fi
rm -f "$STATE_DIR/daemon.pid" "$STATE_DIR/miniupnpd.pid"

# 2. a new external address
if [[ -n ${IGD_EXT_IP:-} ]]; then
  old_ext_ip=$(sed -n 's/^ext_ip=//p' "$CONF")
  if [[ ${FORWARD:-0} == 1 && $old_ext_ip != "$IGD_EXT_IP" ]]; then
    # the forwarding mode (igd-up.sh IGD_FORWARD=1) follows the address
    if [[ -n $old_ext_ip ]]; then
      ip -n "$ROUTER_NS" addr del "$old_ext_ip/32" dev wan0
      ip -n "$WAN_NS" route del "$old_ext_ip/32" via "$WAN4.2"
    fi
    if [[ $IGD_EXT_IP != none ]]; then
      ip -n "$ROUTER_NS" addr add "$IGD_EXT_IP/32" dev wan0
      ip -n "$WAN_NS" route add "$IGD_EXT_IP/32" via "$WAN4.2"
      set_snat "$ROUTER_NS" wan0 "$LAN4.0/24" "$IGD_EXT_IP"
    else
      set_snat "$ROUTER_NS" wan0 "$LAN4.0/24"
    fi
  fi
  sed -i '/^ext_ip=/d' "$CONF"
  [[ $IGD_EXT_IP == none ]] || echo "ext_ip=$IGD_EXT_IP" >>"$CONF"
  log "external address now $IGD_EXT_IP"
fi

# 3. forget the mappings
if [[ ${IGD_CLEAR_LEASES:-0} == 1 ]]; then
  rm -f "$STATE_DIR/upnp.leases"
  if [[ $BACKEND == nftables ]]; then
    for chain in prerouting_miniupnpd postrouting_miniupnpd miniupnpd; do
      ip netns exec "$ROUTER_NS" nft flush chain inet "$NFT_TABLE" "$chain"
    done
  else
    ip netns exec "$ROUTER_NS" iptables-legacy -w -t nat -F MINIUPNPD
    ip netns exec "$ROUTER_NS" iptables-legacy -w -t nat -F MINIUPNPD-POSTROUTING
    ip netns exec "$ROUTER_NS" iptables-legacy -w -t filter -F MINIUPNPD
    ip netns exec "$ROUTER_NS" ip6tables-legacy -w -t filter -F MINIUPNPD
  fi
  log "leases and mapping rules cleared"
fi

# 4. start it again, as igd-up.sh does
echo "=== igd-restart.sh $(date +%T) ===" >>"$STATE_DIR/miniupnpd.log"
start_daemon || exit 1

ext_ip=$(sed -n 's/^ext_ip=//p' "$CONF")
log "ready in $(awk "BEGIN{printf \"%.2f\", $(date +%s.%N)-$T0}") s"
cat <<EOF
IGD_EXT_IP=${ext_ip:-none}
IGD_DAEMON_PID=$(cat "$STATE_DIR/daemon.pid")
EOF
