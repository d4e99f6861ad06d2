#!/usr/bin/env bash
# Builds the godot-upnp extension for one platform and cargo profile and copies the library,
# under the name the addon's .gdextension gives it, into OUT_DIR.
#
# Usage: .github/scripts/build-lib.sh PLATFORM PROFILE [OUT_DIR]   (OUT_DIR defaults to dist)
#        .github/scripts/build-lib.sh --name PLATFORM PROFILE        (only print the file name)
#   PLATFORM: linux-x86_64 | linux-arm64 | windows-x86_64 | macos-universal | android-arm64
#   PROFILE:  debug (cargo's dev profile) | release (cargo --release)
# Linux builds natively on a machine of that architecture (through build-addon.sh, the local
# build step); the others pass a target triple to cargo. Android needs ANDROID_NDK_ROOT
# (ANDROID_API picks the platform level the linker targets, default 24). Prints the
# library's path and, under GitHub Actions, sets the step outputs `file` and `path`.
#
# Written for bash 3.2 too (macOS): no associative arrays, no empty-array expansions.
set -euo pipefail
cd "$(dirname "$0")/../.."

GDEXTENSION=addons/godot-upnp/godot-upnp.gdextension

die() { echo "build-lib: $*" >&2; exit 1; }

name_only=0
if [[ ${1:-} == --name ]]; then name_only=1; shift; fi
platform=${1:-}; profile=${2:-}; out=${3:-dist}
case $profile in
  debug) release_flag= ;;
  release) release_flag=--release ;;
  *) die "profile must be debug or release, not '$profile'" ;;
esac

case $platform in
  linux-x86_64) file=libgodot_upnp.linux.x86_64.$profile.so ;;
  linux-arm64) file=libgodot_upnp.linux.arm64.$profile.so ;;
  windows-x86_64) file=godot_upnp.windows.x86_64.$profile.dll ;;
  macos-universal) file=libgodot_upnp.macos.universal.$profile.dylib ;;
  android-arm64) file=libgodot_upnp.android.arm64.$profile.so ;;
  *) die "unknown platform '$platform'" ;;
esac

if ((name_only)); then echo "$file"; exit 0; fi

# The name must be one the addon loads: a library the .gdextension does not name is dead weight.
grep -q "\"res://addons/godot-upnp/bin/$file\"" "$GDEXTENSION" ||
  die "$GDEXTENSION names no $file"

# cargo_build TRIPLE: the extension crate for one target, in the chosen profile.
cargo_build() {
  echo "+ cargo build --locked -p godot-upnp --target $1 $release_flag" >&2
  # $release_flag is empty or one word: unquoted on purpose.
  # shellcheck disable=SC2086
  cargo build --locked -p godot-upnp --target "$1" $release_flag
}

mkdir -p "$out"
dest=$out/$file
case $platform in
  linux-*)
    arch=${platform#linux-}
    case $(uname -s)/$(uname -m) in
      Linux/x86_64) host=x86_64 ;;
      Linux/aarch64) host=arm64 ;;
      *) host="$(uname -s)/$(uname -m)" ;;
    esac
    [[ $host == "$arch" ]] || die "$platform builds natively; this machine is $host"
    bash rust/godot-upnp/build-addon.sh "$profile"
    cp "addons/godot-upnp/bin/$file" "$dest"
    ;;
  windows-x86_64)
    # The C runtime linked in: the DLL must not need the Visual C++ redistributable
    # (vcruntime140.dll), which a player's machine may lack.
    export CARGO_TARGET_X86_64_PC_WINDOWS_MSVC_RUSTFLAGS="-C target-feature=+crt-static"
    cargo_build x86_64-pc-windows-msvc
    cp "target/x86_64-pc-windows-msvc/$profile/godot_upnp.dll" "$dest"
    ;;
  macos-universal)
    [[ $(uname -s) == Darwin ]] || die "$platform needs macOS (lipo, Apple's linker)"
    cargo_build x86_64-apple-darwin
    cargo_build aarch64-apple-darwin
    lipo -create -output "$dest" \
      "target/x86_64-apple-darwin/$profile/libgodot_upnp.dylib" \
      "target/aarch64-apple-darwin/$profile/libgodot_upnp.dylib"
    archs=$(lipo -archs "$dest")
    echo "architectures: $archs" >&2
    [[ " $archs " == *" x86_64 "* && " $archs " == *" arm64 "* ]] ||
      die "$dest is not universal (x86_64 + arm64): $archs"
    ;;
  android-arm64)
    ndk=${ANDROID_NDK_ROOT:-${ANDROID_NDK_HOME:-}}
    [[ -n $ndk ]] || die "set ANDROID_NDK_ROOT to the NDK"
    api=${ANDROID_API:-24}
    case $(uname -s)/$(uname -m) in
      Linux/x86_64) ndk_host=linux-x86_64 ;;
      Darwin/*) ndk_host=darwin-x86_64 ;;
      *) die "no NDK toolchain for $(uname -s)/$(uname -m)" ;;
    esac
    bin=$ndk/toolchains/llvm/prebuilt/$ndk_host/bin
    [[ -x $bin/aarch64-linux-android$api-clang ]] || die "no $bin/aarch64-linux-android$api-clang"
    export CARGO_TARGET_AARCH64_LINUX_ANDROID_LINKER=$bin/aarch64-linux-android$api-clang
    export CC_aarch64_linux_android=$bin/aarch64-linux-android$api-clang
    export AR_aarch64_linux_android=$bin/llvm-ar
    # 16 KB pages (required for new apps on Android 15+ devices); only for the target,
    # not for build scripts and proc-macros.
    export CARGO_TARGET_AARCH64_LINUX_ANDROID_RUSTFLAGS="-C link-arg=-Wl,-z,max-page-size=16384"
    cargo_build aarch64-linux-android
    cp "target/aarch64-linux-android/$profile/libgodot_upnp.so" "$dest"
    # Every LOAD segment must be aligned to 16 KB (0x4000) or more.
    aligns=$("$bin/llvm-readelf" -lW "$dest" | awk '$1 == "LOAD" { print $NF }')
    echo "LOAD alignments: $(echo "$aligns" | tr '\n' ' ')" >&2
    [[ -n $aligns ]] || die "no LOAD segments in $dest"
    for a in $aligns; do
      (( a >= 0x4000 )) || die "LOAD segment aligned to $a, not 16 KB"
    done
    ;;
esac

[[ -s $dest ]] || die "$dest is missing or empty"
if command -v file >/dev/null; then file "$dest" >&2; fi
ls -l "$dest" >&2
echo "$dest"
if [[ -n ${GITHUB_OUTPUT:-} ]]; then
  { echo "file=$file"; echo "path=$dest"; } >>"$GITHUB_OUTPUT"
fi
