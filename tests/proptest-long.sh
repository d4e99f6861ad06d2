#!/usr/bin/env bash
# The long property-test run: at least TOTAL_CASES (default 1,000,000) generated inputs,
# shared evenly across the properties of rust/upnp-core/tests/parsers_prop.rs, in release
# mode. Plain `cargo test` runs 256 cases per property; this runs thousands each.
# Prints the number of properties, cases per property, the total and the time taken.
set -euo pipefail
cd "$(dirname "$0")/.."
TOTAL=${TOTAL_CASES:-1000000}
run=(cargo test --release --locked -p upnp-core --test parsers_prop)

"${run[@]}" --no-run
properties=$("${run[@]}" -q -- --list 2>/dev/null | grep -c ': test$')
per=$(( (TOTAL + properties - 1) / properties ))
total=$(( per * properties ))
echo "proptest-long: $properties properties x $per cases = $total cases"
start=$(date +%s)
PROPTEST_CASES=$per "${run[@]}" -- --nocapture
end=$(date +%s)
echo "proptest-long: $total cases across $properties properties passed in $(( end - start )) s"
