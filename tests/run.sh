#!/usr/bin/env bash
# Runs every test: set-up, lints, unit tests, the integration suites against the real
# router (miniupnpd in network namespaces), the headless-Godot suites on the same router,
# and the cross-platform stage (tests/xplat.sh: Windows under Wine, arm64 under qemu,
# Apple and Android lints), built in the background and run in the foreground. Prints one summary line at the end,
# "ALL: N passed, M failed", and exits non-zero on any failure. Needs root.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LOGS=${TEST_LOG_DIR:-$ROOT/target/test-logs}
mkdir -p "$LOGS"

passed=0; failed=0; summary=()
GDTOOLKIT_BIN=${GDTOOLKIT_BIN:-/opt/godot-upnp-gdtoolkit/bin}  # installed by tests/setup.sh

# count NAME LOG RC T0: counts a finished stage's results (libtest's "test result:" lines
# and the "godot-tests:" / "xplat-tests:" lines of our runners; 1 pass or fail when it
# prints none) and shows the end of its log if it failed.
count() {
  local name=$1 log=$2 rc=$3 t0=$4 p f
  p=$(awk '/^(test result|[a-z]+-tests):/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^passed/) { s += $i; n = 1 } } END { if (n) print s }' "$log")
  f=$(awk '/^(test result|[a-z]+-tests):/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^failed/) s += $i } END { print s + 0 }' "$log")
  if [[ -z $p ]]; then
    if ((rc == 0)); then p=1; f=0; else p=0; f=1; fi
  elif ((rc != 0 && f == 0)); then
    f=1   # a crash or build failure after some passes
  fi
  passed=$((passed + p)); failed=$((failed + f))
  summary+=("$(printf '%-12s %4d passed, %d failed  (%ds)' "$name" "$p" "$f" $((SECONDS - t0)))")
  if ((rc != 0)); then
    echo "-- $name FAILED (rc $rc); last lines of $log:"
    grep -E '^(test .* FAILED|failures:|---- |thread .* panicked|error|FAIL|     [^ ])' "$log" | head -20
    tail -15 "$log"
  fi
}

# stage NAME COMMAND...: runs a command, keeps its log, counts its results.
stage() {
  local name=$1; shift
  local log="$LOGS/$name.log" t0=$SECONDS
  echo "== $name: $*"
  "$@" >"$log" 2>&1
  count "$name" "$log" $? $t0
}

# A background stage: started early at the lowest CPU priority, waited for at the end.
# The cross-platform stage is almost all compiling; this way its from-scratch cost (a
# Debian chroot, five targets) overlaps the suites that mostly wait on the network, and
# the foreground stages keep the CPU whenever they want it.
declare -A bg_pid bg_t0
bg_start() {
  local name=$1; shift
  echo "== $name (in the background): $*"
  bg_t0[$name]=$SECONDS
  nice -n 19 "$@" >"$LOGS/$name.log" 2>&1 &
  bg_pid[$name]=$!
}
bg_wait() {
  local name=$1
  echo "== $name: waiting for it"
  wait "${bg_pid[$name]}"
  count "$name" "$LOGS/$name.log" $? "${bg_t0[$name]}"
}

stage setup     tests/setup.sh
bg_start xplat-build env XPLAT_PHASE=build tests/xplat.sh
stage build     cargo build --workspace --all-targets --locked
stage rustfmt   cargo fmt --all -- --check
stage clippy    cargo clippy --workspace --all-targets --locked -- -D warnings
stage unit      cargo test --locked
stage gdformat  "$GDTOOLKIT_BIN/gdformat" --check godot-project addons tests/godot
stage gdlint    "$GDTOOLKIT_BIN/gdlint" godot-project addons tests/godot
stage testbed   cargo test --locked -p igd-tests
stage godot     tests/godot/run.sh
stage edhelp    tests/godot/editor-help.sh
stage webguard  tests/godot/web-guard.sh
stage netcheck  tests/godot/network-check.sh
stage guide     tests/godot/readme-guide.sh
stage package   tests/package.sh
bg_wait xplat-build
stage xplat-run env XPLAT_PHASE=run tests/xplat.sh

echo
printf '%s\n' "${summary[@]}"
echo "ALL: $passed passed, $failed failed"
((failed == 0))
