#!/usr/bin/env bash
# Copied from the shared notes (Godot 4 from Debian sid, self-contained, nothing installed into /usr); ours to change.
# install-godot.sh — install Godot 4 (Debian sid package `godot`) on a Debian
# bookworm host WITHOUT touching the host's apt state or glibc.
#
# How: a private apt configuration (sid, mirror derived at runtime from the
# host's own apt sources) downloads `godot` and its dependency closure; the
# .debs are unpacked into a staging dir; the shared-library closure of the
# godot binary (as resolved by sid's own ld.so) is copied flat into
# $PREFIX/lib; the binary is patched (patchelf) to use $PREFIX/lib's ld.so as
# its ELF interpreter and $PREFIX/lib as RPATH. Result: a self-contained
# ~270 MB tree + a tiny launcher script. Nothing is installed into /usr.
#
# Usage:   install-godot.sh [LAUNCHER_PATH] [PREFIX]
#          defaults: /usr/local/bin/godot4  /opt/godot4-sid
# Env:     FORCE=1       reinstall even if the launcher already works
#          GODOT_SUITE   Debian suite to take godot from (default: sid)
#          GODOT_PKG     package name (default: godot = editor build; also works with
#                        godot-template-debug / godot-template-release = export-template runtimes)
#          KEEP_WORK=1   keep the apt/staging work dir
# Needs:   root (for apt-get download into a private dir it is not strictly
#          needed, but patchelf is installed with apt-get if missing).
set -euo pipefail

LAUNCHER=${1:-/usr/local/bin/godot4}
PREFIX=${2:-/opt/godot4-sid}
SUITE=${GODOT_SUITE:-sid}
PKG=${GODOT_PKG:-godot}
WORK=${GODOT_WORK_DIR:-/tmp/godot4-install-work.$$}
ARCH_TRIPLET=x86_64-linux-gnu

log() { echo "[install-godot] $*" >&2; }

# ---- idempotency ---------------------------------------------------------
if [ "${FORCE:-0}" != 1 ] && [ -x "$LAUNCHER" ]; then
  if v=$("$LAUNCHER" --headless --version 2>/dev/null) && [ -n "$v" ]; then
    log "already installed at $LAUNCHER (prefix $PREFIX)"
    echo "$v"
    exit 0
  fi
fi

[ "$(dpkg --print-architecture)" = amd64 ] || { log "only amd64 supported"; exit 1; }

# ---- tools ---------------------------------------------------------------
if ! command -v patchelf >/dev/null 2>&1; then
  log "installing patchelf (host distro package)"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patchelf >/dev/null
fi

# ---- mirror: derive from host apt config at runtime (never hard-coded) ----
mirror=""
if [ -r /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '/^URIs:/{for(i=2;i<=NF;i++) if ($i !~ /security/) {print $i; exit}}' \
             /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
           awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' |
           head -n1)
fi
[ -n "$mirror" ] || { log "could not derive a Debian mirror from /etc/apt"; exit 1; }
log "mirror: $mirror  suite: $SUITE"

# ---- private apt config ---------------------------------------------------
rm -rf "$WORK"
mkdir -p "$WORK/etc/empty.d" "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/stage"
echo "deb $mirror $SUITE main" > "$WORK/etc/sources.list"
: > "$WORK/status"   # empty dpkg status => apt computes the FULL dependency closure
APTO=(
  -o "Dir::Etc::sourcelist=$WORK/etc/sources.list"
  -o "Dir::Etc::sourceparts=$WORK/etc/empty.d"
  -o "Dir::Etc::preferencesparts=$WORK/etc/empty.d"
  -o "Dir::State::Lists=$WORK/lists"
  -o "Dir::State::status=$WORK/status"
  -o "Dir::Cache=$WORK/cache"
  -o "Debug::NoLocking=1"
  -o "APT::Install-Recommends=0"
  -o "APT::Install-Suggests=0"
)
log "apt-get update (private lists)"
apt-get "${APTO[@]}" -qq update
ver=$(apt-cache "${APTO[@]}" policy "$PKG" | awk '/Candidate:/{print $2}')
[ -n "$ver" ] && [ "$ver" != "(none)" ] || { log "$PKG not found in $SUITE"; exit 1; }
log "downloading $PKG $ver + dependency closure"
apt-get "${APTO[@]}" -qq -y --download-only install "$PKG" >/dev/null

# ---- unpack everything into staging --------------------------------------
S="$WORK/stage"
for d in "$WORK"/cache/archives/*.deb; do dpkg-deb -x "$d" "$S"; done
SL="$S/usr/lib/$ARCH_TRIPLET"
SLD="$SL/ld-linux-x86-64.so.2"
SBIN="$S/usr/bin/$PKG"
[ -x "$SBIN" ] && [ -e "$SLD" ] || { log "staging incomplete (no usr/bin/$PKG or ld.so)"; exit 1; }

# library search path inside staging (include any private subdirs, e.g. pulseaudio/)
LP=$(find "$SL" "$S/usr/lib" -maxdepth 2 -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)

# ---- build the flat prefix -----------------------------------------------
NEW="$PREFIX.new.$$"
rm -rf "$NEW"; mkdir -p "$NEW/bin" "$NEW/lib"
cp "$SBIN" "$NEW/bin/godot"
# resolve the complete closure with sid's ld.so (not the host's)
"$SLD" --library-path "$LP" --list "$SBIN" > "$WORK/ldlist.txt"
if grep -q 'not found' "$WORK/ldlist.txt"; then
  log "unresolved libraries:"; grep 'not found' "$WORK/ldlist.txt" >&2; exit 1
fi
awk '$2=="=>" && $3 ~ /^\// && $1 !~ /\// {print $1, $3}' "$WORK/ldlist.txt" | while read -r soname path; do
  cp -L "$path" "$NEW/lib/$soname"
done
cp -L "$SLD" "$NEW/lib/ld-linux-x86-64.so.2"
# libraries with their own RUNPATH (e.g. libpulse -> /usr/lib/.../pulseaudio) would
# not see the executable's RPATH; point them at the flat lib dir
for f in "$NEW"/lib/*.so*; do
  r=$(patchelf --print-rpath "$f" 2>/dev/null || true)
  if [ -n "$r" ]; then patchelf --set-rpath "$PREFIX/lib" "$f"; fi
done
patchelf --set-interpreter "$PREFIX/lib/ld-linux-x86-64.so.2" \
         --force-rpath --set-rpath "$PREFIX/lib" "$NEW/bin/godot"
mkdir -p "$NEW/share/doc"
cp "$S/usr/share/doc/$PKG/copyright" "$NEW/share/doc/godot.copyright" 2>/dev/null || true
echo "$PKG $ver (Debian $SUITE)" > "$NEW/VERSION"

# ---- swap into place ------------------------------------------------------
rm -rf "$PREFIX.old"
[ -e "$PREFIX" ] && mv "$PREFIX" "$PREFIX.old"
mv "$NEW" "$PREFIX"
rm -rf "$PREFIX.old"

mkdir -p "$(dirname "$LAUNCHER")"
cat > "$LAUNCHER.tmp" <<EOF
#!/bin/sh
# Godot $ver from Debian $SUITE, self-contained under $PREFIX (generated by install-godot.sh)
exec "$PREFIX/bin/godot" "\$@"
EOF
chmod 755 "$LAUNCHER.tmp"; mv "$LAUNCHER.tmp" "$LAUNCHER"

[ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"

v=$("$LAUNCHER" --headless --version)
log "installed: $LAUNCHER -> $PREFIX ($(du -sh "$PREFIX" | cut -f1))"
echo "$v"
