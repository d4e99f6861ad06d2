#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian machine; idempotent
# (a second run only checks). Needs root. Rust (cargo) must already be installed.
#   - the test-bed router: miniupnpd (nftables build), nftables, and upnpc/curl/python3
#     as independent clients for checking the router's state
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
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
log "test-bed packages ready"
