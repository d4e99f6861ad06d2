#!/usr/bin/env bash
# Cross builds and runs on this Linux x86_64 machine (issue 14), one line per target:
#   x86_64-pc-windows-gnu   the CLI and the extension DLL built, clippy of every
#                           crate (-D warnings, all targets); upnp-core's tests under
#                           Wine; the CLI under Wine in a test bed's client namespace
#                           against miniupnpd (discover, status, add, list, delete), the
#                           mapping checked in the router's lease file
#   aarch64-unknown-linux-gnu  the workspace built (the extension .so with it); the unit
#                           tests under qemu-user
#   x86_64/aarch64-apple-darwin, aarch64-linux-android: clippy (a cargo check and lints,
#                           -D warnings) of every crate, all targets (std from rust-src)
# Everything runs in a Debian trixie chroot made by debootstrap from the Debian mirror
# this machine's apt uses; its toolchain is Debian's (trixie-backports rustc, cargo,
# clippy and rust-src of one version, so -Zbuild-std with RUSTC_BOOTSTRAP=1 needs no
# other download; libstd-rust-dev:arm64; mingw-w64, aarch64 gcc, qemu-user, wine).
# The chroot, its cargo registry and the target directory are cached under
# XPLAT_CACHE (default /var/cache/godot-upnp-xplat): a second run only rebuilds what
# changed. Test binaries run in network namespaces this script makes (xp-t: loopback
# only; the test bed xp-r/xp-c/xp-w), never in the host's.
# Exits non-zero on any failure. Needs root. See docs/xplat.md.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${XPLAT_CACHE:-/var/cache/godot-upnp-xplat}
R=$CACHE/root
LOGS=${TEST_LOG_DIR:-$ROOT/target/test-logs}/xplat
NS_T=xp-t
BED=(xp-r xp-c xp-w)
BED_STATE=/tmp/godot-upnp-xp-bed
WIN=x86_64-pc-windows-gnu
ARM=aarch64-unknown-linux-gnu
# The toolchain packages; a change here re-runs the install in the cached chroot.
PKGS_BPO=(rustc cargo rust-clippy rust-src libstd-rust-dev:arm64)
PKGS=(gcc-mingw-w64-x86-64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  qemu-user wine wine64)

log() { echo "[xplat] $*" >&2; }
die() { log "$*"; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root (chroot, network namespaces)"

mkdir -p "$LOGS" "$CACHE"

# The Debian mirror (and its security mirror) this machine's apt already uses.
mirror() {
  local want=$1
  grep -hoE '(URIs:|^deb( \[[^]]*\])?) +https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
    awk '{print $NF}' | grep -E "/$want/?\$" | head -1
}
MIRROR=$(mirror debian)
SECURITY=$(mirror debian-security)
# The toolchains' only source: without it (an Ubuntu CI runner, which builds each
# platform on its own runner instead) the stage is skipped, saying so.
if [[ -z $MIRROR ]]; then
  echo "xplat: SKIPPED: no Debian mirror in /etc/apt, so no chroot and no cross toolchains here"
  echo "xplat-tests: 0 passed, 0 failed"
  exit 0
fi

t_setup=$SECONDS
stamp="${PKGS_BPO[*]} | ${PKGS[*]} | $MIRROR"
if [[ ! -x $R/usr/bin/apt-get || ! -e $R/.xplat-debootstrapped ]]; then
  command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
      die "cannot install debootstrap"
  }
  log "debootstrap trixie from $MIRROR into $R"
  rm -rf "$R"
  nice -n 10 debootstrap --variant=minbase --arch=amd64 trixie "$R" "$MIRROR" >"$LOGS/debootstrap.log" 2>&1 ||
    die "debootstrap failed: $LOGS/debootstrap.log"
  touch "$R/.xplat-debootstrapped"
fi

mkdir -p "$R/src" "$R/target"
touch "$R/etc/xplat-host-ca.crt"
cp /etc/resolv.conf "$R/etc/resolv.conf"
# chroot_run CMD...: CMD in the chroot (in the network namespace NETNS names, if any).
# The chroot sees the checkout read-only at /src and the host's CA bundle for cargo (the
# registries may be reached through a TLS proxy whose CA only the host trusts). The
# mounts are made in a mount namespace of the command's own, so they go away with it
# however it ends (nothing bound into the cache is left to unmount, /dev least of all).
NETNS=()
chroot_run() {
  "${NETNS[@]}" unshare --mount --propagation private bash -c '
    R=$1 SRC=$2; shift 2
    mount -t proc proc "$R/proc" && mount --rbind /sys "$R/sys" && mount --rbind /dev "$R/dev" &&
      mount --bind -o ro "$SRC" "$R/src" &&
      mount --bind -o ro /etc/ssl/certs/ca-certificates.crt "$R/etc/xplat-host-ca.crt" &&
      exec chroot "$R" "$@"' xplat "$R" "$ROOT" "$@"
}

# in_chroot CMD...: runs in the chroot at /src with the cross settings; the runners
# make `cargo test --target ...` run the test binaries under Wine / qemu-user. No debug
# info: it would make the builds slower and the cache larger (the debug DLL 193 MB).
CHENV=(env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8
  RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=/target CARGO_TERM_COLOR=never
  CARGO_PROFILE_DEV_DEBUG=0
  CARGO_HTTP_CAINFO=/etc/xplat-host-ca.crt
  CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
  CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
  "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64 -L /usr/aarch64-linux-gnu"
  WINEPREFIX=/root/.wine WINEDEBUG=-all)
in_chroot() { chroot_run "${CHENV[@]}" /usr/bin/env -C /src nice -n 10 "$@"; }
# in_ns NS CMD...: the same inside a network namespace (entered first, so every socket
# of the chroot's processes is in it).
in_ns() {
  local NETNS=(ip netns exec "$1")
  shift
  in_chroot "$@"
}

if [[ $(cat "$R/.xplat-packages" 2>/dev/null) != "$stamp" ]]; then
  log "installing the toolchain packages in the chroot"
  {
    printf 'deb %s trixie main\ndeb %s trixie-updates main\ndeb %s trixie-backports main\n' "$MIRROR" "$MIRROR" "$MIRROR"
    [[ -z $SECURITY ]] || printf 'deb %s trixie-security main\n' "$SECURITY"
  } >"$R/etc/apt/sources.list"
  # No service may start inside the chroot during the install.
  printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
  chmod 755 "$R/usr/sbin/policy-rc.d"
  {
    chroot_run dpkg --add-architecture arm64 &&
      chroot_run apt-get update -qq &&
      chroot_run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -t trixie-backports "${PKGS_BPO[@]}" &&
      chroot_run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PKGS[@]}" &&
      chroot_run apt-get clean
  } >"$LOGS/apt.log" 2>&1 || die "package install in the chroot failed: $LOGS/apt.log"
  echo "$stamp" >"$R/.xplat-packages"
fi
[[ -d $R/root/.wine ]] || in_chroot wineboot --init >"$LOGS/wineboot.log" 2>&1 || die "wineboot failed: $LOGS/wineboot.log"
setup_s=$((SECONDS - t_setup))
log "chroot ready: $(in_chroot rustc --version) ($setup_s s)"

# Cargo tells what to rebuild by file times, and every checkout is mounted at /src over
# one build output: another checkout's files, older than that output, were taken as up
# to date (seen: a stale igd-sim, a test binary looking for its fixtures in the other
# checkout). So when the checkout is not the one built last, the workspace's own crates
# are cleaned for every target (their dependencies stay built).
if [[ $(cat "$CACHE/.xplat-checkout" 2>/dev/null) != "$ROOT" ]]; then
  members=(-p upnp-core -p upnp-cli -p godot-upnp -p igd-sim -p igd-tests)
  for dir in "$R"/target/*/; do
    t=${dir%/}; t=${t##*/}
    case $t in
      debug) in_chroot cargo clean --quiet "${members[@]}" ;;
      *-*) in_chroot cargo clean --quiet --target "$t" "${members[@]}" ;;
    esac || die "cannot clean the last checkout's crates from $R/target"
  done
  echo "$ROOT" >"$CACHE/.xplat-checkout"
fi

# The loopback-only namespace the test binaries run in.
ip netns del "$NS_T" 2>/dev/null
ip netns add "$NS_T" && ip -n "$NS_T" link set lo up || die "cannot make namespace $NS_T"
bed_down() { IGD_STATE_DIR=$BED_STATE tests/testbed/igd-down.sh "${BED[@]}" 2>/dev/null; }
trap 'bed_down; ip netns del "$NS_T" 2>/dev/null' EXIT

failed=0 n_ok=0 n_failed=0
# step TARGET WHAT CMD...: runs one step, logs it, and records "WHAT ok/FAILED (s)".
declare -A done_steps
step() {
  local target=$1 what=$2; shift 2
  local t0=$SECONDS logf="$LOGS/$target.$what.log"
  log "$target: $what"
  local rc=0
  "$@" >"$logf" 2>&1 || rc=$?
  # The tests a step ran, from libtest's summaries; a step without any counts as one.
  local counts p f
  counts=$(awk '/^test result:/ { p += $4; f += $6; n = 1 } END { if (n) print p, f }' "$logf")
  if [[ -n $counts ]]; then
    read -r p f <<<"$counts"
    n_ok=$((n_ok + p)) n_failed=$((n_failed + f + (rc != 0 && f == 0)))
  elif ((rc == 0)); then
    n_ok=$((n_ok + 1))
  else
    n_failed=$((n_failed + 1))
  fi
  if ((rc == 0)); then
    done_steps[$target]+="$what ok ($((SECONDS - t0)) s); "
  else
    done_steps[$target]+="$what FAILED ($((SECONDS - t0)) s, $logf); "
    failed=1
    tail -20 "$logf" | sed 's/^/  | /' >&2   # indented: the test runner counts only our summary
  fi
}

# XPLAT_PHASE=build does the builds and lints only, XPLAT_PHASE=run only what runs the
# built binaries (Wine, qemu, the router), default both. tests/run.sh builds in the
# background and runs in the foreground, where the timing tests have the CPU.
PHASE=${XPLAT_PHASE:-all}
[[ $PHASE == @(all|build|run) ]] || die "XPLAT_PHASE must be all, build or run"
build_step() { [[ $PHASE == run ]] || step "$@"; }
run_step() { [[ $PHASE == build ]] || step "$@"; }

CARGO=(cargo --locked --quiet)
BUILD_STD=(-Zbuild-std)

# --- Windows (gnu) ---
win_build() {
  in_chroot "${CARGO[@]}" build "${BUILD_STD[@]}" --target $WIN -p upnp-cli -p godot-upnp &&
    in_chroot "${CARGO[@]}" test "${BUILD_STD[@]}" --target $WIN -p upnp-core --no-run &&
    file "$R/target/$WIN/debug/upnp.exe" "$R/target/$WIN/debug/godot_upnp.dll"
}
win_tests() { in_ns "$NS_T" "${CARGO[@]}" test --offline --no-fail-fast "${BUILD_STD[@]}" --target $WIN -p upnp-core; }
# The CLI under Wine in the bed's client namespace; each command must succeed, and the
# router's lease file must show the mapping after add and not after delete.
win_router() {
  local exe=/target/$WIN/debug/upnp.exe port=40123 leases=$BED_STATE/upnp.leases
  IGD_STATE_DIR=$BED_STATE IGD_INSTALL=1 tests/testbed/igd-up.sh "${BED[@]}" || return 1
  upnp() { echo "\$ upnp $*"; in_ns "${BED[1]}" wine "$exe" "$@"; }
  local out
  upnp discover && upnp status && upnp add $port --proto udp &&
    grep "^UDP:$port:10.77.0.2:$port:" "$leases" && out=$(upnp list) && echo "$out" &&
    grep -qE "UDP +$port " <<<"$out" && upnp delete $port --proto udp && ! grep "^UDP:$port:" "$leases" &&
    echo "lease file checked: UDP $port there after add, gone after delete"
  local rc=$?
  bed_down
  return $rc
}

# --- Linux arm64 ---
arm_build() {
  in_chroot "${CARGO[@]}" build --target $ARM --workspace &&
    in_chroot "${CARGO[@]}" test --target $ARM --no-run -p upnp-core -p upnp-cli -p godot-upnp -p igd-sim --lib --bins &&
    file "$R/target/$ARM/debug/libgodot_upnp.so"
}
arm_tests() { in_ns "$NS_T" "${CARGO[@]}" test --offline --no-fail-fast --target $ARM -p upnp-core -p upnp-cli -p godot-upnp -p igd-sim --lib --bins; }

# --- check + clippy: Windows too (its cfg(windows) code is linted nowhere else here);
# only these for Apple and Android (no linker or SDK for them here) ---
# tests/igd (the real-router suite) is Linux-only by design (root, namespaces).
# (clippy does all that cargo check does, and lints.)
lint_target() {
  in_chroot "${CARGO[@]}" clippy "${BUILD_STD[@]}" $(printf -- '--target %s ' "$@") --workspace --exclude igd-tests --all-targets -- -D warnings
}

# Arguments name the targets to run (default: all).
LINT_ONLY=(x86_64-apple-darwin aarch64-apple-darwin aarch64-linux-android)
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=($WIN $ARM "${LINT_ONLY[@]}")
lint_only=()
for t in "${TARGETS[@]}"; do
  case $t in
    "$WIN")
      build_step "$t" build win_build
      build_step "$t" clippy lint_target "$t"
      run_step "$t" unit-tests-wine win_tests
      run_step "$t" cli-wine-router win_router
      ;;
    "$ARM")
      build_step "$t" build arm_build
      run_step "$t" unit-tests-qemu arm_tests
      ;;
    x86_64-apple-darwin | aarch64-apple-darwin | aarch64-linux-android) lint_only+=("$t") ;;
    *) die "unknown target $t" ;;
  esac
done
# The lint-only targets in one cargo run: each builds its own std and dependencies, and
# one run keeps both cores busy through the long single-crate stretches (godot-core).
if ((${#lint_only[@]})) && [[ $PHASE != run ]]; then
  step lint-only clippy lint_target "${lint_only[@]}"
  for t in "${lint_only[@]}"; do done_steps[$t]="${done_steps[lint-only]}"; done
fi

echo
for t in "${TARGETS[@]}"; do
  [[ -n ${done_steps[$t]:-} ]] && printf 'xplat %-27s %s\n' "$t" "${done_steps[$t]%; }"
done
echo "xplat: $( ((failed)) && echo FAILED || echo ok) in $SECONDS s (chroot set-up $setup_s s)"
echo "xplat-tests: $n_ok passed, $n_failed failed"
exit $failed
