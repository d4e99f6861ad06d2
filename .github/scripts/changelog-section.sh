#!/usr/bin/env bash
# Reads CHANGELOG.md (Keep a Changelog: one "## [VERSION] - DATE" heading per release,
# "## [Unreleased]" above them, link definitions "[VERSION]: URL" at the end).
#
# Usage: .github/scripts/changelog-section.sh VERSION [CHANGELOG]
#          prints that version's section without its heading, blank lines trimmed: the
#          body of its GitHub release; fails when there is no such section or it is empty
#        .github/scripts/changelog-section.sh --newest [CHANGELOG]
#          prints the newest released version (the first heading after Unreleased)
set -euo pipefail
want=${1:?usage: changelog-section.sh VERSION|--newest [CHANGELOG]}
file=${2:-$(dirname "$0")/../../CHANGELOG.md}
[[ -f $file ]] || { echo "changelog-section: no $file" >&2; exit 1; }

if [[ $want == --newest ]]; then
  awk '/^## \[/ { v = $2; gsub(/[][]/, "", v); if (v != "Unreleased") { print v; found = 1; exit } }
    END { if (!found) { print "changelog-section: no released version in " FILENAME > "/dev/stderr"; exit 1 } }' "$file"
  exit
fi

awk -v want="$want" '
  /^## / {
    v = $2; gsub(/[][]/, "", v)
    if (inside) exit
    inside = (v == want); seen = seen || inside; next
  }
  inside && /^\[[^]]+\]: / { next }          # link definitions belong to no section
  inside { lines[++n] = $0 }
  END {
    if (!seen) { print "changelog-section: no section for " want " in " FILENAME > "/dev/stderr"; exit 1 }
    first = 1; while (first <= n && lines[first] ~ /^[[:space:]]*$/) first++
    last = n; while (last >= first && lines[last] ~ /^[[:space:]]*$/) last--
    if (first > last) { print "changelog-section: the section for " want " is empty" > "/dev/stderr"; exit 1 }
    for (i = first; i <= last; i++) print lines[i]
  }
' "$file"
