#!/usr/bin/env bash
# Runs every test: set-up, lints, unit tests, the integration suites against the real
# router (miniupnpd in network namespaces) and the headless-Godot suites on the same router. Prints one summary line at the end,
# "ALL: N passed, M failed", and exits non-zero on any failure. Needs root.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LOGS=${TEST_LOG_DIR:-$ROOT/target/test-logs}
mkdir -p "$LOGS"

passed=0; failed=0; summary=()
GDTOOLKIT_BIN=${GDTOOLKIT_BIN:-/opt/godot-upnp-gdtoolkit/bin}  # installed by tests/setup.sh

# stage NAME COMMAND...: runs a command, counts its results (libtest's "test result:" and
# the Godot runner's "godot-tests:" lines; 1 pass/fail when it prints none), keeps its log.
stage() {
  local name=$1; shift
  local log="$LOGS/$name.log" t0=$SECONDS
  echo "== $name: $*"
  "$@" >"$log" 2>&1
  local rc=$?
  local p f
  p=$(awk '/^(test result|godot-tests):/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^passed/) { s += $i; n = 1 } } END { if (n) print s }' "$log")
  f=$(awk '/^(test result|godot-tests):/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^failed/) s += $i } END { print s + 0 }' "$log")
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

stage setup     tests/setup.sh
stage build     cargo build --workspace --all-targets --locked
stage rustfmt   cargo fmt --all -- --check
stage clippy    cargo clippy --workspace --all-targets --locked -- -D warnings
stage unit      cargo test --locked
stage gdformat  "$GDTOOLKIT_BIN/gdformat" --check godot-project
stage gdlint    "$GDTOOLKIT_BIN/gdlint" godot-project
stage testbed   cargo test --locked -p igd-tests
stage godot     tests/godot/run.sh
stage guide     tests/godot/readme-guide.sh

echo
printf '%s\n' "${summary[@]}"
echo "ALL: $passed passed, $failed failed"
((failed == 0))
