# shellcheck shell=bash
# Sourced by the test scripts that count their own checks (the Godot scripts under
# tests/godot/, tests/package.sh): one way to count a check, to make a throw-away Godot
# project holding the addon, and to give the editor a home of its own.
# Run from the repository's root.

passed=0 failed=0

# ok STATUS WHAT: counts a check that has run (STATUS 0 passes) and prints its line.
ok() {
  if (($1 == 0)); then passed=$((passed + 1)); echo "ok   $2"; else failed=$((failed + 1)); echo "FAIL $2"; fi
}

# check WHAT COMMAND...: runs COMMAND as one check.
check() {
  local what=$1; shift
  "$@"
  ok $? "$what"
}

# summary PREFIX [NOTE]: the line tests/run.sh counts ("PREFIX-tests: N passed, M
# failed"); returns non-zero when a check failed.
summary() {
  echo "$1-tests: $passed passed, $failed failed${2:+ [$2]}"
  ((failed == 0))
}

# addon_project DIR NAME [PLUGIN...]: a throw-away project in DIR (emptied first) holding
# the addon as a game holds it (a copy of addons/godot-upnp/), registered in
# .godot/extension_list.cfg as the editor does at its first start (a project never opened
# loads no extension otherwise). Each PLUGIN is enabled as an editor plugin: ADDON (a
# folder already in addons/) or SOURCE=ADDON (the folder SOURCE copied to addons/ADDON).
# APPLICATION_LINES, when set, are added to project.godot's [application] section.
addon_project() {
  local dir=$1 name=$2 p enabled=()
  shift 2
  rm -rf "$dir"
  mkdir -p "$dir/.godot" "$dir/addons"
  cp -r addons/godot-upnp "$dir/addons/godot-upnp"
  echo "res://addons/godot-upnp/godot-upnp.gdextension" >"$dir/.godot/extension_list.cfg"
  for p in "$@"; do
    if [[ $p == *=* ]]; then
      cp -r "${p%%=*}" "$dir/addons/${p#*=}"
      p=${p#*=}
    fi
    enabled+=("\"res://addons/$p/plugin.cfg\"")
  done
  {
    printf 'config_version=5\n\n[application]\nconfig/name="%s"\n' "$name"
    [[ -z ${APPLICATION_LINES:-} ]] || printf '%s\n' "$APPLICATION_LINES"
    ((${#enabled[@]} == 0)) || printf '\n[editor_plugins]\nenabled=PackedStringArray(%s)\n' "$(IFS=,; echo "${enabled[*]}")"
  } >"$dir/project.godot"
}

# editor_home DIR: the environment that gives Godot its own settings, data and cache
# directories under DIR (never the machine's), one per line for `env`.
editor_home() {
  mkdir -p "$1"
  printf '%s\n' "HOME=$1" "XDG_CONFIG_HOME=$1/config" "XDG_DATA_HOME=$1/data" "XDG_CACHE_HOME=$1/cache"
}
