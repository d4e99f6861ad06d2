#!/usr/bin/env bash
# Benchmark of the GDExtension as a game ships it (the release build). Prints numbers; it
# is not a test (it fails only when a measurement could not be taken):
#   1. the size of the release library (target/release/libgodot_upnp.so), as built and
#      stripped (a stripped copy in a temp dir);
#   2. the engine start-up cost of the extension: wall time of
#      `godot --headless --path P --quit` for a scratch project with the extension listed
#      in .godot/extension_list.cfg against the same project without that file, N runs
#      each (interleaved) after one warm-up run each, inside an empty network namespace;
#   3. discover() with default arguments, RustUPNP (ours) against UPNP (the engine's),
#      M runs each on the same real router (the test bed), the device count and the ratio
#      engine/ours; then discover(2000) + add_port_mapping + delete_port_mapping, M runs
#      each (ports 44001 ours, 44002 engine).
# Ends with a compact table. Nothing it creates outlives it: the scratch project lives in
# a temp dir, and the namespaces it creates (gb-scratch, and the bed gb-r / gb-c / gb-w,
# state in /tmp/gb-bed) are removed on exit. Every Godot run is inside a namespace.
# It builds with `cargo build --release` into target/ only: the addon installed in
# godot-project/ (the debug build the tests use) is not touched.
#
# Usage (root): tests/godot/bench-extension.sh
# Environment: GODOT (default godot4), BENCH_STARTUP_RUNS (N, default 10),
#              BENCH_DISCOVER_RUNS (M, default 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
GODOT=${GODOT:-godot4}
N=${BENCH_STARTUP_RUNS:-10}
M=${BENCH_DISCOVER_RUNS:-3}
SCRATCH_NS=gb-scratch
BED=(gb-r gb-c gb-w)
BED_STATE=/tmp/gb-bed
PORT_OURS=44001
PORT_ENGINE=44002

[[ $(id -u) == 0 ]] || { echo "bench-extension.sh needs root (network namespaces)" >&2; exit 1; }
[[ $N =~ ^[1-9][0-9]*$ && $M =~ ^[1-9][0-9]*$ ]] || { echo "run counts must be positive integers" >&2; exit 1; }
command -v "$GODOT" >/dev/null || { echo "no Godot binary '$GODOT' (set GODOT)" >&2; exit 1; }
case $(uname -m) in x86_64) arch=x86_64 ;; aarch64) arch=arm64 ;; *) echo "unsupported arch $(uname -m)" >&2; exit 1 ;; esac

TMP=$(mktemp -d /tmp/gb-bench.XXXXXX)
ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }
# Ends the processes left in the scratch namespace (one PID at a time), then removes it.
scratch_down() {
  ns_exists "$SCRATCH_NS" || return 0
  local pid
  for pid in $(ip netns pids "$SCRATCH_NS"); do kill -KILL "$pid" 2>/dev/null || true; done
  ip netns del "$SCRATCH_NS"
}
bed_down() { IGD_STATE_DIR=$BED_STATE "$ROOT/tests/testbed/igd-down.sh" "${BED[@]}" 2>/dev/null || true; }
cleanup() {
  set +e
  scratch_down
  bed_down
  rm -rf "$TMP" "$BED_STATE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Every Godot run gets its own user/config/cache dirs (logs, shader cache) in the temp dir,
# so nothing is shared with the projects and runs of the tests.
export XDG_DATA_HOME=$TMP/xdg/data XDG_CONFIG_HOME=$TMP/xdg/config XDG_CACHE_HOME=$TMP/xdg/cache

now_ns() { date +%s%N; }
# stats FILE: "mean min median" (ms, two decimals) of the microsecond values in FILE, one a line.
stats() {
  sort -n "$1" | awk '{v[NR] = $1; s += $1}
    END {printf "%.2f %.2f %.2f\n", s / NR / 1000, v[1] / 1000, (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2000}'
}
mib() { awk -v b="$1" 'BEGIN {printf "%.2f", b / 1048576}'; }

echo "== godot-upnp extension benchmark"
echo "commit:   $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$([[ -z $(git status --porcelain 2>/dev/null) ]] || echo ' (work tree has changes)')"
echo "engine:   $("$GODOT" --version 2>/dev/null | head -1)"
echo "machine:  $(uname -srm), $(nproc) CPUs"
echo "runs:     start-up N=$N, discovery M=$M"

# --- 1. release library size -------------------------------------------------------
echo
echo "== 1. release library"
cargo build --quiet --locked --release -p godot-upnp
LIB=$ROOT/target/release/libgodot_upnp.so
cp "$LIB" "$TMP/stripped.so"
strip "$TMP/stripped.so"
size_full=$(stat -c %s "$LIB")
size_stripped=$(stat -c %s "$TMP/stripped.so")
echo "target/release/libgodot_upnp.so: $size_full bytes ($(mib "$size_full") MiB)"
echo "stripped:                        $size_stripped bytes ($(mib "$size_stripped") MiB)"

# --- the scratch projects ------------------------------------------------------------
# project.godot with a one-node main scene instead of the demo (not copied: it would run
# discovery), the addon with the release library under both the debug and the release
# path of this platform (an editor binary selects the debug one), and the scripts below.
make_project() { # DIR
  local dir=$1 tag rel
  mkdir -p "$dir/addons/godot-upnp/bin"
  sed 's|^run/main_scene=.*|run/main_scene="res://bench_main.tscn"|' "$ROOT/godot-project/project.godot" >"$dir/project.godot"
  printf '[gd_scene format=3]\n\n[node name="BenchMain" type="Node"]\n' >"$dir/bench_main.tscn"
  cp "$ROOT/addons/godot-upnp/godot-upnp.gdextension" "$dir/addons/godot-upnp/"
  for tag in debug release; do
    rel=$(sed -n "s|^linux\\.$tag\\.$arch *= *\"res://\\(.*\\)\"|\\1|p" "$dir/addons/godot-upnp/godot-upnp.gdextension")
    [[ -n $rel ]] || { echo "godot-upnp.gdextension has no linux.$tag.$arch library" >&2; exit 1; }
    mkdir -p "$dir/$(dirname "$rel")"
    cp "$LIB" "$dir/$rel"
  done
  cat >"$dir/bench_check.gd" <<'EOF'
extends SceneTree


func _initialize() -> void:
	print("check RustUPNP=%s editor=%s" % [ClassDB.class_exists("RustUPNP"), OS.has_feature("editor")])
	quit()
EOF
  cat >"$dir/bench_discover.gd" <<'EOF'
## discover() with default arguments, then discover(2000) + add/delete_port_mapping,
## timed with Time.get_ticks_usec() for each class:
##   godot --headless --path P --script res://bench_discover.gd -- RUNS CLASS=PORT...
## Prints "run ..." per call, "result WHAT CLASS MEAN_MS MIN_MS EXTRA" per measurement.
extends SceneTree

var failed := false


func _initialize() -> void:
	var args := OS.get_cmdline_user_args()
	var runs := int(args[0])
	var means := {}
	for i in range(1, args.size()):
		var cls := args[i].get_slice("=", 0)
		var port := int(args[i].get_slice("=", 1))
		if not ClassDB.class_exists(cls):
			print("FAIL class %s does not exist" % cls)
			quit(1)
			return
		var times: Array[int] = []
		var devices := -1
		for run in runs:
			var upnp = ClassDB.instantiate(cls)
			var t0 := Time.get_ticks_usec()
			var err: int = upnp.discover()
			var dt := Time.get_ticks_usec() - t0
			devices = upnp.get_device_count()
			times.append(dt)
			_check(err, "%s.discover()" % cls)
			print("run discover() %s #%d: %.2f ms, result %d, %d device(s)" % [cls, run + 1, dt / 1000.0, err, devices])
		means[cls] = _result("discover()", cls, times, "devices=%d" % devices)
		var t_disc: Array[int] = []
		var t_add: Array[int] = []
		var t_del: Array[int] = []
		var t_sum: Array[int] = []
		for run in runs:
			var upnp = ClassDB.instantiate(cls)
			var t0 := Time.get_ticks_usec()
			var err_disc: int = upnp.discover(2000)
			var t1 := Time.get_ticks_usec()
			var err_add: int = upnp.add_port_mapping(port)
			var t2 := Time.get_ticks_usec()
			var err_del: int = upnp.delete_port_mapping(port)
			var t3 := Time.get_ticks_usec()
			_check(err_disc, "%s.discover(2000)" % cls)
			_check(err_add, "%s.add_port_mapping(%d)" % [cls, port])
			_check(err_del, "%s.delete_port_mapping(%d)" % [cls, port])
			t_disc.append(t1 - t0)
			t_add.append(t2 - t1)
			t_del.append(t3 - t2)
			t_sum.append(t3 - t1)
			print(
				(
					"run mapping %s #%d: discover(2000) %.2f ms, add(%d) %.2f ms, delete %.2f ms, results %d/%d/%d"
					% [cls, run + 1, (t1 - t0) / 1000.0, port, (t2 - t1) / 1000.0, (t3 - t2) / 1000.0, err_disc, err_add, err_del]
				)
			)
		_result("discover(2000)", cls, t_disc, "-")
		_result("add_port_mapping", cls, t_add, "port=%d" % port)
		_result("delete_port_mapping", cls, t_del, "port=%d" % port)
		_result("add+delete", cls, t_sum, "port=%d" % port)
	if means.has("RustUPNP") and means.has("UPNP"):
		print("discover() ratio engine/ours (means): %.2f" % (means.UPNP / means.RustUPNP))
	quit(1 if failed else 0)


func _check(err: int, what: String) -> void:
	if err != OK:
		print("FAIL %s returned %d" % [what, err])
		failed = true


func _result(what: String, cls: String, times: Array[int], extra: String) -> float:
	var total := 0
	for t in times:
		total += t
	var mean := total / 1000.0 / times.size()
	var least: int = times.min()
	print("result %s %s %.2f %.2f %s" % [what, cls, mean, least / 1000.0, extra])
	return mean
EOF
}
make_project "$TMP/with"
make_project "$TMP/without"
# Only "with" lists the extension: a project that was never opened in the editor loads
# no extension unless .godot/extension_list.cfg names it.
mkdir -p "$TMP/with/.godot"
echo "res://addons/godot-upnp/godot-upnp.gdextension" >"$TMP/with/.godot/extension_list.cfg"

# --- 2. engine start-up --------------------------------------------------------------
echo
echo "== 2. engine start-up: $GODOT --headless --path P --quit (netns $SCRATCH_NS)"
scratch_down
ip netns add "$SCRATCH_NS"
ip -n "$SCRATCH_NS" link set lo up

# in_scratch LOG ARGS...: one Godot run in the scratch namespace; fails on a non-zero exit.
in_scratch() {
  local log=$1; shift
  if ! timeout 120 ip netns exec "$SCRATCH_NS" "$GODOT" --headless "$@" >"$log" 2>&1; then
    echo "Godot failed: $GODOT --headless $*" >&2; tail -20 "$log" >&2; exit 1
  fi
}
for variant in with without; do
  in_scratch "$TMP/check-$variant.log" --path "$TMP/$variant" --script res://bench_check.gd
  echo "$variant extension: $(grep -E '^check ' "$TMP/check-$variant.log")"
done
if ! grep -q 'RustUPNP=true' "$TMP/check-with.log" || ! grep -q 'RustUPNP=false' "$TMP/check-without.log"; then
  echo "the extension did not load (or loaded without being listed)" >&2; cat "$TMP/check-with.log" >&2; exit 1
fi
for variant in with without; do # warm-up
  in_scratch "$TMP/warmup-$variant.log" --path "$TMP/$variant" --quit
done
if grep -E 'ERROR|WARNING' "$TMP/warmup-with.log" "$TMP/warmup-without.log"; then
  echo "(error lines above, from the warm-up runs)"
fi
: >"$TMP/startup-with"
: >"$TMP/startup-without"
for _ in $(seq 1 "$N"); do
  for variant in with without; do
    t0=$(now_ns)
    in_scratch "$TMP/run-$variant.log" --path "$TMP/$variant" --quit
    t1=$(now_ns)
    echo $(((t1 - t0) / 1000)) >>"$TMP/startup-$variant"
  done
done
read -r with_mean with_min with_median < <(stats "$TMP/startup-with")
read -r without_mean without_min without_median < <(stats "$TMP/startup-without")
delta_mean=$(awk -v a="$with_mean" -v b="$without_mean" 'BEGIN {printf "%+.2f", a - b}')
delta_min=$(awk -v a="$with_min" -v b="$without_min" 'BEGIN {printf "%+.2f", a - b}')
delta_median=$(awk -v a="$with_median" -v b="$without_median" 'BEGIN {printf "%+.2f", a - b}')
echo "without the extension: mean $without_mean ms, min $without_min ms, median $without_median ms"
echo "with the extension:    mean $with_mean ms, min $with_min ms, median $with_median ms"
echo "cost of the extension: mean $delta_mean ms, min $delta_min ms, median $delta_median ms"
scratch_down

# --- 3. discovery and mapping on the test-bed router --------------------------------
echo
echo "== 3. discover() and port mapping, RustUPNP vs UPNP (bed ${BED[*]})"
if ! IGD_STATE_DIR=$BED_STATE tests/testbed/igd-up.sh "${BED[@]}" >"$TMP/bed.env" 2>"$TMP/bed.log"; then
  echo "the test bed did not come up:" >&2; tail -10 "$TMP/bed.log" >&2; exit 1
fi
echo "router: $(miniupnpd --version 2>&1 | head -1) at $(sed -n 's/^IGD_ROOTDESC=//p' "$TMP/bed.env")"
# In the background and waited for, so that an interrupt reaches the trap at once (the
# bed's teardown then ends Godot, which runs in the bed's client namespace).
disc_rc=0
timeout 600 ip netns exec "${BED[1]}" "$GODOT" --headless --path "$TMP/with" --script res://bench_discover.gd -- \
  "$M" "RustUPNP=$PORT_OURS" "UPNP=$PORT_ENGINE" >"$TMP/discover.log" 2>&1 &
wait $! || disc_rc=$?
grep -E '^(run|result|discover|FAIL)|ERROR' "$TMP/discover.log" || true
if ((disc_rc != 0)) || ! grep -q '^discover() ratio' "$TMP/discover.log"; then
  echo "the discovery benchmark failed (exit $disc_rc):" >&2; tail -20 "$TMP/discover.log" >&2; exit 1
fi
leases=$(grep -cE ":($PORT_OURS|$PORT_ENGINE):" "$BED_STATE/upnp.leases" 2>/dev/null || true)
echo "mappings of ports $PORT_OURS/$PORT_ENGINE left in the router's lease file: ${leases:-0}"

# --- summary ---------------------------------------------------------------------------
# field WHAT CLASS N: field N (1 mean, 2 min, 3 extra) of a "result" line.
field() { awk -v w="$1" -v c="$2" -v n="$3" '$1 == "result" && $2 == w && $3 == c {print $(3 + n)}' "$TMP/discover.log"; }
row() { # LABEL WHAT
  local o_mean o_min e_mean e_min
  o_mean=$(field "$2" RustUPNP 1) o_min=$(field "$2" RustUPNP 2)
  e_mean=$(field "$2" UPNP 1) e_min=$(field "$2" UPNP 2)
  printf '| %s | %s / %s ms | %s / %s ms | %s |\n' "$1" "$o_mean" "$o_min" "$e_mean" "$e_min" \
    "$(awk -v e="$e_mean" -v o="$o_mean" 'BEGIN {printf (o > 0 ? "%.2f" : "-"), e / o}')"
}
echo
echo "== summary ($(nproc) CPUs, $("$GODOT" --version 2>/dev/null | head -1), release build)"
echo
echo "| | size |"
echo "| --- | --- |"
echo "| libgodot_upnp.so (release) | $size_full bytes ($(mib "$size_full") MiB) |"
echo "| the same, stripped | $size_stripped bytes ($(mib "$size_stripped") MiB) |"
echo
echo "| \`--headless --quit\`, $N runs | mean | min | median |"
echo "| --- | --- | --- | --- |"
echo "| without the extension | $without_mean ms | $without_min ms | $without_median ms |"
echo "| with the extension | $with_mean ms | $with_min ms | $with_median ms |"
echo "| cost of the extension | $delta_mean ms | $delta_min ms | $delta_median ms |"
echo
echo "| $M runs each, mean / min | RustUPNP (ours) | UPNP (engine) | engine/ours |"
echo "| --- | --- | --- | --- |"
row "\`discover()\`" "discover()"
printf '| devices found | %s | %s | |\n' "$(field "discover()" RustUPNP 3 | cut -d= -f2)" "$(field "discover()" UPNP 3 | cut -d= -f2)"
row "\`discover(2000)\`" "discover(2000)"
row "\`add_port_mapping(port)\`" "add_port_mapping"
row "\`delete_port_mapping(port)\`" "delete_port_mapping"
row "add + delete" "add+delete"
