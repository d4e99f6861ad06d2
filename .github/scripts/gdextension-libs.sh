#!/usr/bin/env bash
# Prints the file names (one a line, in file order) of every library the addon's
# .gdextension names in its [libraries] section, e.g. libgodot_upnp.linux.x86_64.debug.so.
#
# Usage: .github/scripts/gdextension-libs.sh [GDEXTENSION]
set -euo pipefail
f=${1:-$(dirname "$0")/../../addons/godot-upnp/godot-upnp.gdextension}
awk '
  /^[[:space:]]*\[/ { in_libs = ($0 ~ /^[[:space:]]*\[libraries\]/); next }
  in_libs && /^[[:space:]]*[^;#[:space:]][^=]*=/ {
    v = $0; sub(/^[^=]*=[[:space:]]*/, "", v); sub(/[[:space:]]*$/, "", v); gsub(/"/, "", v)
    if (v !~ /^res:\/\/addons\/godot-upnp\/bin\/[^\/]+$/) { print "unexpected library path: " v > "/dev/stderr"; bad = 1; next }
    sub(/^.*\//, "", v); print v
  }
  END { exit bad }
' "$f"
