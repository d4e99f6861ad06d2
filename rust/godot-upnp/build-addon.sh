#!/usr/bin/env bash
# The build step: builds the extension for this machine (Linux x86_64 or arm64) and puts
# it into addons/godot-upnp/bin/, then copies the addon into godot-project/ (a copy, not
# a symlink, so the same layout works on Windows) and registers it for headless runs.
#
# Usage: build-addon.sh [debug|release|both] [--features engine-names]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
profiles=${1:-debug}; shift || true
case $(uname -m) in x86_64) arch=x86_64 ;; aarch64) arch=arm64 ;; *) echo "unsupported arch $(uname -m)" >&2; exit 1 ;; esac
mkdir -p addons/godot-upnp/bin
for profile in $([[ $profiles == both ]] && echo "debug release" || echo "$profiles"); do
  flag=$([[ $profile == release ]] && echo --release || true)
  cargo build --quiet --locked -p godot-upnp $flag "$@"
  cp "target/$profile/libgodot_upnp.so" "addons/godot-upnp/bin/libgodot_upnp.linux.$arch.$profile.so"
done
rm -rf godot-project/addons/godot-upnp
mkdir -p godot-project/addons godot-project/.godot
cp -r addons/godot-upnp godot-project/addons/godot-upnp
# A project never opened in the editor loads no extension unless this file names it.
echo "res://addons/godot-upnp/godot-upnp.gdextension" > godot-project/.godot/extension_list.cfg
