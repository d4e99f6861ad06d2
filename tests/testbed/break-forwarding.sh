#!/usr/bin/env bash
# Makes the bed's router list a mapping it no longer forwards: removes the filter rules
# miniupnpd made for internal port PORT and keeps its DNAT rule, from which the router
# answers GetSpecificPortMappingEntry and lists the mapping as before. Packets to the
# external port are then translated and dropped (the forward chain's policy is drop), as
# on the Technicolor CGA4131COM of tailscale/tailscale#21208: the mapping stays listed and
# renewed, forwards nothing, and only DeletePortMapping + AddPortMapping repairs it (the
# daemon then writes both rules again). Prints how many rules it removed.
# Usage: IGD_STATE_DIR=<the bed's state dir> break-forwarding.sh PORT
set -euo pipefail
PORT=${1:?usage: break-forwarding.sh PORT}
[[ $PORT =~ ^[0-9]+$ ]] || { echo "PORT must be a number, not '$PORT'" >&2; exit 1; }
# shellcheck source=/dev/null
source "${IGD_STATE_DIR:?IGD_STATE_DIR must name the bed}/bed.env"
removed=0
if [[ $BACKEND == nftables ]]; then
  # Lines like: iif "wan0" th dport 45555 @nh,128,32 0xa4d0002 @nh,72,8 0x11 accept # handle 16
  handles=$(ip netns exec "$ROUTER_NS" nft -a list chain inet "$NFT_TABLE" miniupnpd |
    sed -n "s/.* dport $PORT .* accept # handle \([0-9]*\)$/\1/p")
  for handle in $handles; do
    ip netns exec "$ROUTER_NS" nft delete rule inet "$NFT_TABLE" miniupnpd handle "$handle"
    removed=$((removed + 1))
  done
else
  while read -r rule; do
    # shellcheck disable=SC2086 # the rule's own words
    ip netns exec "$ROUTER_NS" iptables-legacy -w -t filter ${rule/#-A/-D}
    removed=$((removed + 1))
  done < <(ip netns exec "$ROUTER_NS" iptables-legacy -w -t filter -S MINIUPNPD | grep -- "--dport $PORT ")
fi
echo "$removed"
