#!/usr/bin/env bash
# Discovery under packet loss (root): brings up a test bed (namespaces gl-loss-r/-c/-w),
# drops LOSS_PERCENT % (default 30) of the client's incoming SSDP answers (UDP from port
# 1900) and of the TCP segments from the router's HTTP port with an nftables table
# `inet loss` in the client namespace (this kernel has no netem), runs the core's
# find_gateway (2000 ms timeout) LOSS_RUNS times (default 100), prints how many runs
# found the router, min/median/max time and the drop counters, and exits non-zero when
# fewer than 99 % of the runs found it. Extra arguments go to loss-discovery
# (--wait-all: discover() instead of find_gateway(); --min-found M).
set -euo pipefail
cd "$(dirname "$0")/.."
if ((EUID != 0)); then
  echo "tests/loss.sh needs root (network namespaces)" >&2
  exit 1
fi
cargo build --release --locked -q -p igd-tests --bin loss-discovery
exec target/release/loss-discovery --runs "${LOSS_RUNS:-100}" --percent "${LOSS_PERCENT:-30}" "$@"
