#!/bin/bash
# Copied from the shared IGD test bed; ours to change.
# Stand up a real UPnP IGD (Debian's miniupnpd 2.3.1, nftables build by
# default, iptables build via IGD_MINIUPNPD) inside Linux network namespaces:
#
#   [client ns]  c0 10.77.0.2/24 (+10.77.0.3/24) fd77::2/64
#        |  veth
#   [router ns]  lan0 10.77.0.1/24 fd77::1/64   (miniupnpd listens here)
#                wan0 10.78.0.2/24 fd78::2/64   (miniupnpd external iface)
#        |  veth
#   [wan ns]     w0 10.78.0.1/24 fd78::1/64
#
# With IGD_OUTER (a double-NAT / carrier-grade-NAT bed) a second router sits between
# the router's wan0 and the WAN namespace:
#
#   [client ns]  c0 10.77.0.2/24
#   [router ns]  lan0 10.77.0.1/24; wan0 HOME_WAN/24 (192.168.1.2 or 100.64.1.2),
#                fd78::2/64; SNATs the LAN to HOME_WAN (hidden: to IGD_EXT_IP)
#   [outer ns]   olan0 HOME_WAN's prefix .1/24, fd78::1/64 (its own miniupnpd listens
#                here); owan0 10.78.0.2/24 + IGD_OUTER_EXT_IP/32 (its external
#                address); SNATs what comes from olan0 to IGD_OUTER_EXT_IP
#   [wan ns]     w0 10.78.0.1/24; a route to IGD_OUTER_EXT_IP/32 via 10.78.0.2 only
#
# so what the client sends to the WAN host arrives from the outermost address.
# Every veth end is created directly inside a namespace this script made; the
# host namespace, its interfaces and its routes are never touched. No
# namespace has a default route, so nothing can leave the test bed.
# Prints KEY=VALUE lines (IGD_*) on stdout for the caller; logs on stderr.
# If it fails half-way the namespaces stay for inspection; igd-down.sh (which
# igd-up.sh also runs first) removes them.
#
# Usage: igd-up.sh [ROUTER_NS [CLIENT_NS [WAN_NS [OUTER_NS]]]]
# Environment (all optional):
#   IGD_INSTALL=1        apt-get install the packages if missing
#   IGD_STATE_DIR        where config/log/pid/leases go (default: $TMPDIR/igd-<router ns>)
#   IGD_HTTP_PORT        miniupnpd HTTP port (default 5000)
#   IGD_EXT_IP           external address miniupnpd reports (default 11.22.33.44, must
#                        not be private/reserved for miniupnpd 2.3.1; never contacted
#                        unless IGD_FORWARD=1).
#                        IGD_EXT_IP=none drops ext_ip: the daemon then reads the private
#                        WAN address and refuses to forward (a "behind CGNAT" router)
#   IGD_FORCE_V1=yes     serve an IGDv1 description instead of IGDv2
#   IGD_UUID             device uuid (fixed default for reproducible fixtures)
#   IGD_NOTIFY_INTERVAL  SSDP NOTIFY interval in seconds (default 30)
#   IGD_LAN4/IGD_WAN4    /24 prefixes without the last octet (default 10.77.0 / 10.78.0)
#   IGD_MCAST_ROUTE=0    do not add the 224.0.0.0/4 route in the client ns (then a
#                        client must pick the multicast interface itself, like upnpc -m)
#   IGD_MINIUPNPD        miniupnpd binary (default: miniupnpd on PATH). The backend
#                        (nftables or iptables) is read from its --version output.
#   IGD_ENABLE_UPNP=no   miniupnpd's enable_upnp=no: no SSDP, no HTTP/SOAP (a router
#                        that speaks only NAT-PMP/PCP)
#   IGD_ENABLE_NATPMP=no miniupnpd's enable_natpmp=no: IPv4 UDP 5351 stays closed (in
#                        miniupnpd 2.3.1 the switch covers PCP as well as NAT-PMP; only
#                        the IPv6 PCP socket is still opened). With IGD_ENABLE_UPNP=no as
#                        well no daemon runs (miniupnpd refuses to), as on a router with
#                        both switched off.
#   IGD_VPN_ROUTE=1      as a VPN client sets up: a second client interface vpn0
#                        (10.99.0.2/24, a veth whose peer vpn0p is in the client ns
#                        too, so nothing leaves) holds the default route (metric 50) and
#                        with it multicast (no 224.0.0.0/4 route); c0 keeps a default
#                        route via the router with metric 500
#   IGD_CLIENT_DEFAULT_ROUTE=1  a default route in the client ns via the router's LAN
#                        address, so that default-gateway lookups (NAT-PMP/PCP) find it.
#                        The router ns still has no default route: whatever the client
#                        sends to other addresses dies in the router.
#   IGD_FORWARD=1        the external address is reachable from the WAN ns, so that a
#                        mapping can be proven to forward: wan0 holds IGD_EXT_IP/32 as
#                        well and the WAN ns routes it via the router's WAN address. What
#                        the WAN host sends to IGD_EXT_IP:port is then DNATed to the LAN by
#                        miniupnpd's own rules (or refused by the router when there is no
#                        mapping: TCP reset, ICMP port unreachable); the client answers via
#                        its route to the WAN prefix. Still no default route anywhere but
#                        the client's optional one. Needs an IGD_EXT_IP address (not none).
#                        igd-restart.sh keeps the mode and moves the address on a new
#                        IGD_EXT_IP. The router also SNATs what its LAN sends out wan0
#                        to IGD_EXT_IP, so the WAN host sees the client as IGD_EXT_IP
#                        (a STUN answer tells the external address).
#   IGD_OUTER            a second router (namespace OUTER_NS, or IGD_OUTER_NS, default
#                        <router ns>-o) between wan0 and the WAN namespace, running its
#                        own miniupnpd on its LAN side (state in $IGD_STATE_DIR/outer):
#                        private  wan0 is 192.168.1.2/24 (RFC 1918, double NAT)
#                        shared   wan0 is 100.64.1.2/24 (RFC 6598, carrier-grade NAT)
#                        In both the router's miniupnpd has no ext_ip: it reads the
#                        address from wan0 ("Reserved / private IP address ... Port
#                        forwarding is impossible"), and miniupnpd 2.3.1 then answers
#                        GetExternalIPAddress with an empty NewExternalIPAddress and
#                        every AddPortMapping with UPnPError 501 ActionFailed (HTTP 500).
#                        (A private or shared ext_ip it refuses to start with: "option
#                        ext_ip contains reserved / private address".)
#                        hidden   wan0 is 192.168.1.2/24 and holds IGD_EXT_IP/32 as well
#                        (default 11.22.33.44, ext_ip set), which the outer router routes
#                        to it, as a provider routes a public address over a private
#                        transfer network: the router looks public and maps ports, but
#                        the outer router NATs again, to IGD_OUTER_EXT_IP (only STUN
#                        sees it). (miniupnpd 2.3.1 refuses a public LAN address, "LAN
#                        address contains public IP address", so the outer's LAN side
#                        cannot be the public prefix itself.)
#                        Not with IGD_FORWARD=1 (the outer's external address is always
#                        reachable from the WAN ns; the router's is not).
#   IGD_OUTER_EXT_IP     the outer router's external address (default 22.33.44.55)
#   IGD_OUTER_HTTP_PORT  the outer miniupnpd's HTTP port (default 5001)
#   IGD_STUN=1           a STUN server (coturn's turnserver --stun-only, RFC 5389/8489
#                        binding requests, no TURN, no CLI) in the WAN ns on the WAN
#                        host's address, UDP 3478 (IGD_STUN_SERVER); in any mode
# The bed's settings are kept in $IGD_STATE_DIR/bed.env for igd-restart.sh.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROUTER_NS=${1:-${IGD_ROUTER_NS:-igd-router}}
CLIENT_NS=${2:-${IGD_CLIENT_NS:-igd-client}}
WAN_NS=${3:-${IGD_WAN_NS:-igd-wan}}
OUTER_NS=${4:-${IGD_OUTER_NS:-$ROUTER_NS-o}}
STATE_DIR=${IGD_STATE_DIR:-${TMPDIR:-/tmp}/igd-$ROUTER_NS}
HTTP_PORT=${IGD_HTTP_PORT:-5000}
OUTER=${IGD_OUTER:-}
# On a private or shared WAN the router reads its address from wan0 (no ext_ip).
case $OUTER in private | shared) EXT_IP=${IGD_EXT_IP:-none} ;; *) EXT_IP=${IGD_EXT_IP:-11.22.33.44} ;; esac
FORCE_V1=${IGD_FORCE_V1:-no}
UUID=${IGD_UUID:-3f6e2a1c-5b7d-4e8f-9a0b-1c2d3e4f5a6b}
NOTIFY_INTERVAL=${IGD_NOTIFY_INTERVAL:-30}
LAN4=${IGD_LAN4:-10.77.0}
WAN4=${IGD_WAN4:-10.78.0}
LAN6=fd77:
WAN6=fd78:
NFT_TABLE=igd
MINIUPNPD=${IGD_MINIUPNPD:-miniupnpd}
ENABLE_UPNP=${IGD_ENABLE_UPNP:-yes}
ENABLE_NATPMP=${IGD_ENABLE_NATPMP:-yes}
FORWARD=${IGD_FORWARD:-0}
STUN=${IGD_STUN:-0}
OUTER_EXT_IP=${IGD_OUTER_EXT_IP:-22.33.44.55}
OUTER_HTTP_PORT=${IGD_OUTER_HTTP_PORT:-5001}
STUN_PORT=3478
for v in ENABLE_UPNP ENABLE_NATPMP; do
  [[ ${!v} == yes || ${!v} == no ]] || { echo "IGD_$v must be yes or no, not '${!v}'" >&2; exit 1; }
done
for v in FORWARD STUN; do
  [[ ${!v} == 0 || ${!v} == 1 ]] || { echo "IGD_$v must be 0 or 1, not '${!v}'" >&2; exit 1; }
done
is_ipv4() { [[ $1 =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; }
if [[ $FORWARD == 1 ]] && ! is_ipv4 "$EXT_IP"; then
  echo "IGD_FORWARD=1 needs an IPv4 IGD_EXT_IP, not '$EXT_IP'" >&2; exit 1
fi
# The router's WAN address (HOME_WAN), and on a double-NAT bed the outer router's LAN
# address in the same /24 (OUTER_LAN).
case $OUTER in
  '') HOME_WAN=$WAN4.2 ;;
  private) HOME_WAN=192.168.1.2 ;;
  shared) HOME_WAN=100.64.1.2 ;;
  hidden)
    is_ipv4 "$EXT_IP" || { echo "IGD_OUTER=hidden needs an IPv4 IGD_EXT_IP, not '$EXT_IP'" >&2; exit 1; }
    HOME_WAN=192.168.1.2 ;;
  *) echo "IGD_OUTER must be private, shared or hidden, not '$OUTER'" >&2; exit 1 ;;
esac
if [[ -n $OUTER ]]; then
  OUTER_LAN=${HOME_WAN%.*}.1
  is_ipv4 "$OUTER_EXT_IP" || { echo "IGD_OUTER_EXT_IP must be an IPv4 address, not '$OUTER_EXT_IP'" >&2; exit 1; }
  [[ $FORWARD == 0 ]] || { echo "IGD_FORWARD=1 is for the single-router bed, not IGD_OUTER" >&2; exit 1; }
fi

log() { printf '[igd-up %s] %s\n' "$(date +%T.%N | cut -c1-12)" "$*" >&2; }
T0=$(date +%s.%N)

# 0. packages ---------------------------------------------------------------
need=()
command -v "$MINIUPNPD" >/dev/null || need+=(miniupnpd-nftables)
command -v nft >/dev/null || need+=(nftables)
command -v upnpc >/dev/null || need+=(miniupnpc)
command -v curl >/dev/null || need+=(curl)
[[ $STUN == 0 ]] || command -v turnserver >/dev/null || need+=(coturn)
if ((${#need[@]})); then
  if [[ ${IGD_INSTALL:-0} == 1 ]]; then
    log "installing ${need[*]}"
    # Only the backend binary package: the 'miniupnpd' wrapper package adds an
    # init script/debconf that could start the daemon on the host's interfaces.
    # coturn: tests/setup.sh installs it without starting or enabling its service.
    [[ $STUN == 0 ]] || { log "IGD_STUN=1: run tests/setup.sh to install coturn"; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2
  else
    log "missing packages: ${need[*]} (set IGD_INSTALL=1 to install them)"; exit 1
  fi
fi
case $("$MINIUPNPD" --version 2>&1) in
  *nftables*) BACKEND=nftables ;;
  *iptables*) BACKEND=iptables
    command -v iptables-legacy >/dev/null || { log "iptables backend needs the iptables package"; exit 1; } ;;
  *) log "cannot tell the firewall backend of $MINIUPNPD"; exit 1 ;;
esac

# shellcheck source=tests/testbed/daemon.sh
source "$HERE/daemon.sh"

# 1. idempotent cleanup of a previous run -----------------------------------
"$HERE/igd-down.sh" "$ROUTER_NS" "$CLIENT_NS" "$WAN_NS" "$OUTER_NS"

# 2. namespaces and links ---------------------------------------------------
NAMESPACES=("$ROUTER_NS" "$CLIENT_NS" "$WAN_NS")
[[ -z $OUTER ]] || NAMESPACES+=("$OUTER_NS")
for ns in "${NAMESPACES[@]}"; do
  ip netns add "$ns"
  # no duplicate address detection: addresses are usable immediately
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
  ip -n "$ns" link set lo up
done
# fixed MACs so that IPv6 link-local addresses (SSDP answers to ff02::c come
# from them) are the same on every run
ip -n "$ROUTER_NS" link add lan0 address 02:77:00:00:00:01 type veth \
  peer name c0 address 02:77:00:00:00:02 netns "$CLIENT_NS"
if [[ -z $OUTER ]]; then
  ip -n "$ROUTER_NS" link add wan0 address 02:78:00:00:00:02 type veth \
    peer name w0 address 02:78:00:00:00:01 netns "$WAN_NS"
else
  # the router's wan0 faces the outer router's LAN, the outer's WAN faces the WAN host
  ip -n "$ROUTER_NS" link add wan0 address 02:78:00:00:00:02 type veth \
    peer name olan0 address 02:78:00:00:00:01 netns "$OUTER_NS"
  ip -n "$OUTER_NS" link add owan0 address 02:79:00:00:00:02 type veth \
    peer name w0 address 02:79:00:00:00:01 netns "$WAN_NS"
fi

ip -n "$ROUTER_NS" addr add "$LAN4.1/24" dev lan0
ip -n "$ROUTER_NS" addr add "${LAN6}:1/64" dev lan0 nodad
ip -n "$ROUTER_NS" addr add "$HOME_WAN/24" dev wan0
ip -n "$ROUTER_NS" addr add "${WAN6}:2/64" dev wan0 nodad
ip -n "$CLIENT_NS" addr add "$LAN4.2/24" dev c0
# a second "LAN host" (secondary address) for conflict / secure-mode tests
ip -n "$CLIENT_NS" addr add "$LAN4.3/24" dev c0
ip -n "$CLIENT_NS" addr add "${LAN6}:2/64" dev c0 nodad
ip -n "$WAN_NS" addr add "$WAN4.1/24" dev w0
if [[ -z $OUTER ]]; then
  ip -n "$WAN_NS" addr add "${WAN6}:1/64" dev w0 nodad
else
  # IPv6 ends at the outer router: the double NAT is an IPv4 matter
  ip -n "$OUTER_NS" addr add "$OUTER_LAN/24" dev olan0
  ip -n "$OUTER_NS" addr add "${WAN6}:1/64" dev olan0 nodad
  ip -n "$OUTER_NS" addr add "$WAN4.2/24" dev owan0
  ip -n "$OUTER_NS" addr add "$OUTER_EXT_IP/32" dev owan0
  ip -n "$OUTER_NS" link set olan0 up
  ip -n "$OUTER_NS" link set owan0 up
fi
ip -n "$ROUTER_NS" link set lan0 up
ip -n "$ROUTER_NS" link set wan0 up
ip -n "$CLIENT_NS" link set c0 up
ip -n "$WAN_NS" link set w0 up

# Client: SSDP multicast goes out c0 without needing -m; the WAN prefix is
# reached through the router (only for end-to-end forwarding checks).
VPN_ROUTE=${IGD_VPN_ROUTE:-0}
[[ ${IGD_MCAST_ROUTE:-1} == 0 || $VPN_ROUTE == 1 ]] || ip -n "$CLIENT_NS" route add 224.0.0.0/4 dev c0
ip -n "$CLIENT_NS" route add "$WAN4.0/24" via "$LAN4.1"
if [[ $VPN_ROUTE == 1 ]]; then
  # A VPN client's set-up: its interface holds the preferred default route (and so
  # multicast), the LAN keeps a default route of its own with a higher metric. Both ends
  # of the VPN's veth are in the client ns: what goes out vpn0 ends in vpn0p.
  ip -n "$CLIENT_NS" link add vpn0 type veth peer name vpn0p
  ip -n "$CLIENT_NS" link set vpn0p up
  ip -n "$CLIENT_NS" link set vpn0 up
  ip -n "$CLIENT_NS" addr add 10.99.0.2/24 dev vpn0
  ip -n "$CLIENT_NS" route add default via 10.99.0.1 dev vpn0 metric 50
  ip -n "$CLIENT_NS" route add default via "$LAN4.1" dev c0 metric 500
elif [[ ${IGD_CLIENT_DEFAULT_ROUTE:-0} == 1 ]]; then
  ip -n "$CLIENT_NS" route add default via "$LAN4.1"
fi
ip -n "$CLIENT_NS" -6 route add "${WAN6}:/64" via "${LAN6}:1"
if [[ -z $OUTER ]]; then
  # WAN host: can reach the LAN prefix only through the router.
  ip -n "$WAN_NS" route add "$LAN4.0/24" via "$WAN4.2"
  ip -n "$WAN_NS" -6 route add "${LAN6}:/64" via "${WAN6}:2"
else
  # The router reaches the WAN prefix through the outer router; the WAN host reaches
  # only the outer's external address (both LANs behind it are NATed).
  ip -n "$ROUTER_NS" route add "$WAN4.0/24" via "$OUTER_LAN"
  ip -n "$WAN_NS" route add "$OUTER_EXT_IP/32" via "$WAN4.2"
  if [[ $OUTER == hidden ]]; then
    ip -n "$ROUTER_NS" addr add "$EXT_IP/32" dev wan0
    ip -n "$OUTER_NS" route add "$EXT_IP/32" via "$HOME_WAN"
  fi
  ip netns exec "$OUTER_NS" sysctl -qw net.ipv4.ip_forward=1
fi

ip netns exec "$ROUTER_NS" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

# Forwarding mode: the external address becomes one of the router's own, on its WAN
# side (a host route, so nothing else changes), reachable from the WAN host only.
if [[ $FORWARD == 1 ]]; then
  ip -n "$ROUTER_NS" addr add "$EXT_IP/32" dev wan0
  ip -n "$WAN_NS" route add "$EXT_IP/32" via "$WAN4.2"
fi

# 3. firewall skeleton miniupnpd fills in ------------------------------------
# firewall NS LAN_IF WAN_IF: forwarding from LAN_IF out WAN_IF and back, miniupnpd's
# chains, and after miniupnpd's postrouting rules the chain of set_snat (daemon.sh).
firewall() {
  local ns=$1 lan=$2 wan=$3
  if [[ $BACKEND == nftables ]]; then
    ip netns exec "$ns" nft -f - <<EOF
table inet $NFT_TABLE {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "$lan" oifname "$wan" accept
    jump miniupnpd
  }
  chain miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    jump lan_snat
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
  chain lan_snat {
  }
}
EOF
  else
    # The iptables build of miniupnpd talks to the legacy x_tables interface
    # (libiptc) and uses the fixed chain names MINIUPNPD / MINIUPNPD-POSTROUTING.
    ipt() { ip netns exec "$ns" iptables-legacy -w "$@"; }
    ip6t() { ip netns exec "$ns" ip6tables-legacy -w "$@"; }
    ipt -t nat -N MINIUPNPD
    ipt -t nat -A PREROUTING -i "$wan" -j MINIUPNPD
    ipt -t nat -N MINIUPNPD-POSTROUTING
    ipt -t nat -A POSTROUTING -o "$wan" -j MINIUPNPD-POSTROUTING
    ipt -t nat -N BED-SNAT
    ipt -t nat -A POSTROUTING -j BED-SNAT
    ipt -t filter -N MINIUPNPD
    ipt -t filter -P FORWARD DROP
    ipt -t filter -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    ipt -t filter -A FORWARD -i "$lan" -o "$wan" -j ACCEPT
    ipt -t filter -A FORWARD -i "$wan" ! -o "$wan" -j MINIUPNPD
    ip6t -t filter -N MINIUPNPD
    ip6t -t filter -P FORWARD DROP
    ip6t -t filter -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    ip6t -t filter -A FORWARD -i "$lan" -o "$wan" -j ACCEPT
    ip6t -t filter -A FORWARD -i "$wan" ! -o "$wan" -j MINIUPNPD
  fi
}
# The router masquerades its LAN where its WAN side leads somewhere that answers: to
# its WAN address behind an outer router, to its external address in forwarding mode.
# (igd-restart.sh moves the latter with the address.)
firewall "$ROUTER_NS" lan0 wan0
if [[ -n $OUTER ]]; then
  # the outer router NATs its LAN and, when hidden, the address it routes to the router
  outer_sources=${OUTER_LAN%.*}.0/24
  if [[ $OUTER == hidden ]]; then
    set_snat "$ROUTER_NS" wan0 "$LAN4.0/24" "$EXT_IP"
    outer_sources+=,$EXT_IP
  else
    set_snat "$ROUTER_NS" wan0 "$LAN4.0/24" "$HOME_WAN"
  fi
  firewall "$OUTER_NS" olan0 owan0
  set_snat "$OUTER_NS" owan0 "$outer_sources" "$OUTER_EXT_IP"
elif [[ $FORWARD == 1 ]]; then
  set_snat "$ROUTER_NS" wan0 "$LAN4.0/24" "$EXT_IP"
fi

# 4. miniupnpd config -----------------------------------------------------------
# write_conf DIR WAN_IF LAN_IF EXT_IP HTTP_PORT UUID LAN_NET LAN_IP FRIENDLY_NAME:
# DIR/miniupnpd.conf from the template (EXT_IP none: no ext_ip), an empty log, no
# leases.
write_conf() {
  local dir=$1 conf=$1/miniupnpd.conf
  mkdir -p "$dir"
  sed -e "s|@WAN_IF@|$2|g" -e "s|@LAN_IF@|$3|g" -e "s|@EXT_IP@|$4|g" \
      -e "s|@HTTP_PORT@|$5|g" -e "s|@FORCE_IGD_V1@|$FORCE_V1|g" \
      -e "s|@UUID@|$6|g" -e "s|@NOTIFY_INTERVAL@|$NOTIFY_INTERVAL|g" \
      -e "s|@STATE_DIR@|$dir|g" -e "s|@NFT_TABLE@|$NFT_TABLE|g" \
      -e "s|@LAN_NET@|$7|g" -e "s|@LAN_IP@|$8|g" -e "s|@FRIENDLY_NAME@|$9|g" \
      -e "s|@ENABLE_UPNP@|$ENABLE_UPNP|g" -e "s|@ENABLE_NATPMP@|$ENABLE_NATPMP|g" \
      "$HERE/miniupnpd.conf.template" >"$conf"
  [[ $4 != none ]] || sed -i '/^ext_ip=/d' "$conf"
  # the upnp_*table/chain options exist only in the nftables build
  [[ $BACKEND == nftables ]] || sed -i '/^upnp_/d' "$conf"
  rm -f "$dir/upnp.leases"
  : >"$dir/miniupnpd.log"
}
CONF=$STATE_DIR/miniupnpd.conf
write_conf "$STATE_DIR" wan0 lan0 "$EXT_IP" "$HTTP_PORT" "$UUID" "$LAN4.0/24" "$LAN4.1" "IGD test bed router"
OUTER_STATE_DIR=$STATE_DIR/outer
if [[ -n $OUTER ]]; then
  # the outer router: its own uuid and port, the same switches as the router
  write_conf "$OUTER_STATE_DIR" owan0 olan0 "$OUTER_EXT_IP" "$OUTER_HTTP_PORT" \
    "${IGD_OUTER_UUID:-7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}" "${OUTER_LAN%.*}.0/24" "$OUTER_LAN" \
    "IGD test bed outer router"
fi
# What igd-restart.sh needs to restart this daemon the same way (plain words and
# addresses only: the file is sourced).
cat >"$STATE_DIR/bed.env" <<EOF
ROUTER_NS=$ROUTER_NS
CLIENT_NS=$CLIENT_NS
WAN_NS=$WAN_NS
LAN4=$LAN4
HTTP_PORT=$HTTP_PORT
NFT_TABLE=$NFT_TABLE
BACKEND=$BACKEND
MINIUPNPD=$MINIUPNPD
ENABLE_UPNP=$ENABLE_UPNP
ENABLE_NATPMP=$ENABLE_NATPMP
FORWARD=$FORWARD
WAN4=$WAN4
OUTER=$OUTER
EOF

# 5. start the daemons and wait for the sockets that are switched on
if [[ $ENABLE_UPNP == no && $ENABLE_NATPMP == no ]]; then
  # miniupnpd refuses to run with nothing to serve ("Why did you run me anyway?"): a
  # router with both switched off answers nothing, so the bed runs no daemon.
  log "UPnP and NAT-PMP/PCP both off: no miniupnpd"
else
  start_daemon || exit 1
  if [[ -n $OUTER ]]; then
    (ROUTER_NS=$OUTER_NS STATE_DIR=$OUTER_STATE_DIR CONF=$OUTER_STATE_DIR/miniupnpd.conf \
      HTTP_PORT=$OUTER_HTTP_PORT start_daemon) || exit 1
  fi
fi
if [[ $STUN == 1 ]]; then
  # UDP only, on the WAN host's address only; its user database (SQLite, unused with
  # --stun-only but always opened) in the state directory, not the host's.
  : >"$STATE_DIR/stun.log"
  ip netns exec "$WAN_NS" turnserver -n --stun-only --no-cli --no-tcp --no-tls --no-dtls \
    --no-rfc5780 --no-software-attribute -L "$WAN4.1" -p "$STUN_PORT" \
    --userdb "$STATE_DIR/stun.db" --log-file "$STATE_DIR/stun.log" --simple-log \
    --no-stdout-log --pidfile "$STATE_DIR/turnserver.pid" >>"$STATE_DIR/stun.log" 2>&1 &
  echo $! >"$STATE_DIR/stun.pid"
  log "turnserver started, pid $(cat "$STATE_DIR/stun.pid"), log $STATE_DIR/stun.log"
  stun_up=0
  for _ in $(seq 1 100); do # bounded: 100 x 0.05 s
    if ! kill -0 "$(cat "$STATE_DIR/stun.pid")" 2>/dev/null; then
      log "turnserver exited:"; tail -20 "$STATE_DIR/stun.log" >&2; exit 1
    fi
    if ip netns exec "$WAN_NS" ss -Hlun "sport = :$STUN_PORT" | grep -q .; then stun_up=1; break; fi
    sleep 0.05
  done
  ((stun_up)) || { log "turnserver not listening after 5 s"; exit 1; }
fi

# 6. IPv6 on the new veths is usable only once the kernel has added the link-local
#    addresses and the ff00::/8 multicast routes (it does so shortly after the link
#    comes up); a test that searches ff02::c before then gets "Network is unreachable".
#    Bounded: 100 x 0.05 s.
ready=0
for _ in $(seq 1 100); do
  if ip -n "$CLIENT_NS" -6 route show table local | grep -q '^multicast ff00::/8 dev c0' \
     && ip -n "$ROUTER_NS" -6 addr show dev lan0 scope link | grep -q fe80; then ready=1; break; fi
  sleep 0.05
done
if ((!ready)); then log "IPv6 link-local set-up not complete after 5 s"; exit 1; fi

T1=$(date +%s.%N)
log "ready in $(awk "BEGIN{printf \"%.2f\", $T1-$T0}") s"
cat <<EOF
IGD_ROUTER_NS=$ROUTER_NS
IGD_CLIENT_NS=$CLIENT_NS
IGD_WAN_NS=$WAN_NS
IGD_ROOTDESC=http://$LAN4.1:$HTTP_PORT/rootDesc.xml
IGD_ROOTDESC6=http://[${LAN6}:1]:$HTTP_PORT/rootDesc.xml
IGD_GATEWAY=$LAN4.1
IGD_ROUTER_WAN_IP=$HOME_WAN
IGD_WAN_HOST_IP=$WAN4.1
IGD_CLIENT_IP=$LAN4.2
IGD_OTHER_CLIENT_IP=$LAN4.3
IGD_CLIENT_IP6=${LAN6}:2
IGD_EXT_IP=$EXT_IP
IGD_STATE_DIR=$STATE_DIR
IGD_BACKEND=$BACKEND
IGD_ENABLE_UPNP=$ENABLE_UPNP
IGD_ENABLE_NATPMP=$ENABLE_NATPMP
IGD_FORWARD=$FORWARD
IGD_OUTER=${OUTER:-none}
EOF
if [[ -n $OUTER ]]; then
  cat <<EOF
IGD_OUTER_NS=$OUTER_NS
IGD_OUTER_LAN_IP=$OUTER_LAN
IGD_OUTER_WAN_IP=$WAN4.2
IGD_OUTER_EXT_IP=$OUTER_EXT_IP
IGD_OUTER_ROOTDESC=http://$OUTER_LAN:$OUTER_HTTP_PORT/rootDesc.xml
IGD_OUTER_STATE_DIR=$OUTER_STATE_DIR
EOF
fi
[[ $STUN == 0 ]] || echo "IGD_STUN_SERVER=$WAN4.1:$STUN_PORT"
