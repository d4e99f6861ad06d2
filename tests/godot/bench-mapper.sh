#!/usr/bin/env bash
# Benchmark of the UPNPPortMapper node as a game ships it (the release build), on one fresh
# test bed. Prints numbers; it is not a test: it exits non-zero only when something is
# broken (the node never completed, never re-mapped, never stopped). What it measures
# (godot-project/tests/bench_mapper.gd, N runs each, min / median / mean / max in ms):
#   a. cold start() -> upnp_completed, no remembered gateway (goal <= 100 ms);
#   b. warm start() -> upnp_completed, the gateway remembered by the run before (<= 40 ms);
#   c. re-map after a router reboot (igd-restart.sh, IGD_CLEAR_LEASES=1): from the moment
#      the script returned to port_mapped for both protocols, c1 calling refresh() then,
#      c2 with refresh_interval 0.5 s; and whether mapping_lost came first;
#   d. main-thread time inside the node per frame (probes at process_priority -1000 and
#      +1000 around it) over a 10 s run that starts, maps, refreshes, restarts and stops,
#      against a plain Node between the same probes; the longest start() / stop() /
#      refresh() / get_status_text() call;
#   e. for comparison, the class reference's threaded example (discover() then
#      add_port_mapping on a Thread) with RustUPNP and with the engine's UPNP;
#   f. the router's own share: its first SSDP answer, its description, two mappings sent
#      at once (tests/godot/router_floor.py), the floor under a. and b.
# The bed is gk-bench-r / gk-bench-c / gk-bench-w (state in /tmp/gk-bench); Godot runs in
# its client namespace with user:// in a temp dir (the warm-start file is the bench's own).
# The editor binary (godot4) loads the addon's debug library path, so the release library
# is copied under that name for the run; on exit the debug addon is rebuilt, as the tests
# expect it, and the bed is removed.
#
# Usage (root): tests/godot/bench-mapper.sh
# Environment: GODOT (default godot4), BENCH_RUNS (N, default 10), BENCH_EXAMPLE_RUNS
#              (example runs per class, default 3), BENCH_FRAME_SECONDS (default 10).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
GODOT=${GODOT:-godot4}
N=${BENCH_RUNS:-10}
EXAMPLE_RUNS=${BENCH_EXAMPLE_RUNS:-3}
FRAME_SECONDS=${BENCH_FRAME_SECONDS:-10}
BED=(gk-bench-r gk-bench-c gk-bench-w)
STATE=/tmp/gk-bench

[[ $(id -u) == 0 ]] || { echo "bench-mapper.sh needs root (network namespaces)" >&2; exit 1; }
for n in "$N" "$EXAMPLE_RUNS" "$FRAME_SECONDS"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "run counts and seconds must be positive integers" >&2; exit 1; }
done
command -v "$GODOT" >/dev/null || { echo "no Godot binary '$GODOT' (set GODOT)" >&2; exit 1; }
case $(uname -m) in x86_64) arch=x86_64 ;; aarch64) arch=arm64 ;; *) echo "unsupported arch $(uname -m)" >&2; exit 1 ;; esac

TMP=$(mktemp -d /tmp/gk-bench-mapper.XXXXXX)
release_installed=0
cleanup() {
  set +e
  IGD_STATE_DIR=$STATE tests/testbed/igd-down.sh "${BED[@]}" 2>/dev/null
  rm -rf "$TMP" "$STATE"
  if ((release_installed)); then
    rust/godot-upnp/build-addon.sh debug || echo "rebuilding the debug addon failed" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export XDG_DATA_HOME=$TMP/xdg/data XDG_CONFIG_HOME=$TMP/xdg/config XDG_CACHE_HOME=$TMP/xdg/cache

release_installed=1
rust/godot-upnp/build-addon.sh release
BIN=godot-project/addons/godot-upnp/bin
cp "$BIN/libgodot_upnp.linux.$arch.release.so" "$BIN/libgodot_upnp.linux.$arch.debug.so"

if ! IGD_STATE_DIR=$STATE tests/testbed/igd-up.sh "${BED[@]}" >"$TMP/bed.env" 2>"$TMP/bed.log"; then
  echo "the test bed did not come up:" >&2; tail -10 "$TMP/bed.log" >&2; exit 1
fi

echo "== UPNPPortMapper benchmark"
echo "commit:  $(git rev-parse --short HEAD)$([[ -z $(git status --porcelain) ]] || echo ' (work tree has changes)')"
echo "machine: $(uname -srm), $(nproc) CPUs"
echo "build:   release (target/release/libgodot_upnp.so, $(stat -c %s target/release/libgodot_upnp.so) bytes)"
echo "router:  $(miniupnpd --version 2>&1 | head -1) at $(sed -n 's/^IGD_ROOTDESC=//p' "$TMP/bed.env")"
echo "runs:    N=$N, example runs $EXAMPLE_RUNS, frame run ${FRAME_SECONDS} s"
# shellcheck disable=SC2046 # one argument per IGD_* line
timeout 900 ip netns exec "${BED[1]}" "$GODOT" --headless --path godot-project \
  --script res://tests/bench_mapper.gd -- RUNS="$N" EXAMPLE_RUNS="$EXAMPLE_RUNS" \
  FRAME_SECONDS="$FRAME_SECONDS" PORT=47000 RESTART_SCRIPT="$ROOT/tests/testbed/igd-restart.sh" \
  $(grep -E '^IGD_' "$TMP/bed.env") 2>&1 | sed '/^Godot Engine v/d'

echo
echo "== f. the router alone (tests/godot/router_floor.py, a plain Python client), $N runs"
ip netns exec "${BED[1]}" python3 tests/godot/router_floor.py "$(sed -n 's/^IGD_ROOTDESC=//p' "$TMP/bed.env")" \
  "$(sed -n 's/^IGD_CLIENT_IP=//p' "$TMP/bed.env")" 47100 "$N"
