#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian machine; idempotent
# (a second run only checks). Needs root. Rust (cargo) must already be installed.
#   - the test-bed router: miniupnpd (nftables build), nftables, and upnpc/curl/python3
#     as independent clients for checking the router's state
#   - the test bed's STUN server: coturn (turnserver), started only by igd-up.sh
#     IGD_STUN=1 inside the bed's WAN namespace; its service is neither started nor
#     enabled here
set -euo pipefail

log() { echo "[setup] $*" >&2; }

[[ $(id -u) == 0 ]] || { log "needs root (network namespaces, packages)"; exit 1; }
command -v cargo >/dev/null || { log "cargo not found: install Rust first (https://rustup.rs)"; exit 1; }

# Only the backend package of miniupnpd: the 'miniupnpd' wrapper package ships a service
# that could start the daemon on this machine's real interfaces.
need=()
command -v miniupnpd >/dev/null || need+=(miniupnpd-nftables)
command -v nft >/dev/null || need+=(nftables)
command -v upnpc >/dev/null || need+=(miniupnpc)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
command -v ip >/dev/null || need+=(iproute2)
command -v turnserver >/dev/null || need+=(coturn)
command -v zip >/dev/null || need+=(zip)      # tests/package.sh: the release zip
command -v unzip >/dev/null || need+=(unzip)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get update -qq
  # No package may start a service on this machine's interfaces (coturn's would serve
  # STUN/TURN on all of them): unless the machine has a policy-rc.d of its own, one that
  # forbids every start is in place for the install.
  guard=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# tests/setup.sh: no service starts during its install\nexit 101\n' >"$guard"
    chmod 755 "$guard"
  fi
  status=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || status=$?
  [[ -z $guard ]] || rm -f "$guard"
  ((status == 0)) || { log "apt-get install failed ($status)"; exit 1; }
fi
# coturn's package enables its systemd unit, which (unlike its init script) ignores
# TURNSERVER_ENABLED in /etc/default/coturn: disabled, so that no boot starts it.
if [[ -e /etc/systemd/system/multi-user.target.wants/coturn.service ]]; then
  log "disabling the coturn service"
  systemctl disable coturn.service >/dev/null 2>&1 || rm -f /etc/systemd/system/multi-user.target.wants/coturn.service
fi
# And none runs in this machine's own network namespace (only in beds' WAN namespaces).
for pid in $(pgrep -x turnserver || true); do
  if [[ $(readlink "/proc/$pid/ns/net") == "$(readlink /proc/self/ns/net)" ]]; then
    log "turnserver pid $pid serves this machine's own interfaces: stop it (systemctl stop coturn)"; exit 1
  fi
done
log "test-bed packages ready"

# Godot 4 for the headless tests and the demo. GODOT=/path/to/godot selects another
# binary (then nothing is installed); otherwise Debian's godot package, self-contained
# under /opt/godot4-sid with the launcher /usr/local/bin/godot4.
if [[ -n ${GODOT:-} ]]; then
  "$GODOT" --headless --version >/dev/null || { log "GODOT=$GODOT does not run"; exit 1; }
  log "using GODOT=$GODOT"
else
  "$(dirname "$0")/godot/install-godot.sh" /usr/local/bin/godot4 /opt/godot4-sid >/dev/null
  log "godot: $(/usr/local/bin/godot4 --headless --version)"
fi

# gdtoolkit (gdformat, gdlint) in its own virtual environment.
GDTOOLKIT=/opt/godot-upnp-gdtoolkit
if [[ ! -x $GDTOOLKIT/bin/gdlint ]]; then
  log "installing gdtoolkit"
  python3 -m venv "$GDTOOLKIT" 2>/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$GDTOOLKIT"
  }
  "$GDTOOLKIT/bin/pip" install -q "gdtoolkit==4.5.0"
fi
log "gdtoolkit: $("$GDTOOLKIT/bin/gdlint" --version 2>&1 | head -1)"
