## Benchmark of UPNPPortMapper against the test-bed router (run by tests/godot/bench-mapper.sh):
##   godot --headless --path godot-project --script res://tests/bench_mapper.gd -- KEY=VALUE...
## Keys: RUNS, EXAMPLE_RUNS, FRAME_SECONDS, PORT (the first of the ports used),
## RESTART_SCRIPT (tests/testbed/igd-restart.sh), IGD_STATE_DIR and IGD_ROUTER_NS (the bed's).
## Prints the numbers (milliseconds unless marked); exits 1 when something is broken
## (no upnp_completed(0), no re-map after a restart, no stop), never for a missed goal.
extends SceneTree

const Probe = preload("res://tests/bench_probe.gd")
const WARM_FILE := "user://upnp_port_mapper_gateway.txt"
## The longest any one step may take before the run counts as broken.
const WAIT_MS := 10000

var args := {}
var failed := false


func _initialize() -> void:
	for arg in OS.get_cmdline_user_args():
		args[arg.get_slice("=", 0)] = arg.substr(arg.find("=") + 1)
	_run.call_deferred()


func _run() -> void:
	var maps := []
	OS.execute(
		"grep", ["-m1", "-o", "/.*libgodot_upnp.*", "/proc/%d/maps" % OS.get_process_id()], maps
	)
	print(
		(
			"godot:   %s, %d CPUs (%s)"
			% [Engine.get_version_info().string, OS.get_processor_count(), OS.get_processor_name()]
		)
	)
	print("library: %s" % "".join(maps).strip_edges())
	var port := int(args.get("PORT", "47000"))
	var phases: Array[Callable] = [
		_bench_start.bind("a. cold", port, true, 100.0),
		_bench_start.bind("b. warm", port, false, 40.0),
		_bench_restart.bind(
			"c1. re-map, refresh() called when the restart returned", port + 10, 0.0
		),
		_bench_restart.bind(
			"c2. re-map, refresh_interval 0.5 s (no refresh() call)", port + 20, 0.5
		),
		_bench_frames.bind(port + 30),
		_bench_example.bind("RustUPNP", port + 40),
		_bench_example.bind("UPNP", port + 40),
	]
	for phase in phases:
		await phase.call()
		if failed:  # the later phases would measure a broken node or bed
			break
	print("bench: %s" % ("FAILED (see the lines above)" if failed else "done"))
	quit(1 if failed else 0)


## a/b: start() -> upnp_completed, with (warm) or without (cold) a remembered gateway.
func _bench_start(label: String, port: int, cold: bool, goal_ms: float) -> void:
	print("\n== %s start(): UDP and TCP %d, %d runs" % [label, port, _runs()])
	var completed := []
	var first_mapped := []
	for run in _runs():
		if cold:
			DirAccess.remove_absolute(ProjectSettings.globalize_path(WARM_FILE))
		elif not FileAccess.file_exists(WARM_FILE):
			_fail("no remembered gateway in %s for the warm run" % WARM_FILE)
			return
		var events := []
		var node := _mapper(port, events)
		var started := Time.get_ticks_usec()
		node.start()
		if not await _completed_ok(events):
			return
		completed.append(_at(events, "completed") - started)
		first_mapped.append(_at(events, "mapped") - started)
		await _stop(node)
	_stat("start() -> first port_mapped", first_mapped)
	_stat("start() -> upnp_completed", completed, goal_ms)


## c: the router reboots (igd-restart.sh with IGD_CLEAR_LEASES=1, on a thread so that frames
## go on); from the moment the script returned to the node's port_mapped for both protocols.
func _bench_restart(label: String, port: int, interval: float) -> void:
	print("\n== %s: UDP and TCP %d, %d restarts" % [label, port, _runs()])
	var events := []
	var node := _mapper(port, events)
	if interval > 0.0:
		node.refresh_interval = interval
	node.start()
	if not await _completed_ok(events):
		return
	var remapped := []
	var lost_first := 0
	var reasons := {}
	for run in _runs():
		var mark := events.size()
		var thread := Thread.new()
		thread.start(_restart_router)
		await _wait_until(func(): return not thread.is_alive(), 30000)
		var returned: int = thread.wait_to_finish() if not thread.is_alive() else -1
		if returned < 0:
			_fail("igd-restart.sh failed or hung")
			return
		if interval == 0.0:
			node.refresh()
		var both := func(): return _count(events, "mapped", mark) >= 2
		if not await _wait_until(both, WAIT_MS):
			_fail("no re-map %d ms after restart %d: %s" % [WAIT_MS, run + 1, events.slice(mark)])
			return
		var first_lost := _index(events, "lost", mark)
		if first_lost >= 0 and first_lost < _index(events, "mapped", mark):
			lost_first += 1
		for event in events.slice(mark):
			if event[0] == "lost":
				reasons[event[2]] = true
		remapped.append(_nth_at(events, "mapped", mark, 2) - returned)
	_stat("restart returned -> both re-mapped", remapped)
	print("  mapping_lost came before port_mapped in %d of %d runs" % [lost_first, _runs()])
	print("  mapping_lost reasons: %s" % ", ".join(reasons.keys()))
	await _stop(node)


## d: main-thread time inside the node per frame (between two probes) over FRAME_SECONDS
## while it starts, maps, refreshes every 0.5 s, is restarted, stops and starts again;
## first the same with a plain Node between the probes, for the probes' own cost.
func _bench_frames(port: int) -> void:
	var seconds := float(args.get("FRAME_SECONDS", "10"))
	print(
		(
			"\n== d. main thread, %.0f s per run, UDP and TCP %d, refresh_interval 0.5 s"
			% [seconds, port]
		)
	)
	var plain := Node.new()
	_frame_stats("plain Node between the probes", await _probed(plain, seconds, Callable()), [])
	plain.free()
	var events := []
	var node := _mapper(port, events)
	node.refresh_interval = 0.5
	var calls := {}
	var state := {"step": 0, "refreshed_at": -1}
	var timeline := _timeline.bind(node, state, calls, events, seconds)
	_frame_stats(
		"UPNPPortMapper between the probes", await _probed(node, seconds, timeline), events
	)
	for call_name in calls:
		var times: Array = calls[call_name]
		print("  %-36s max %8.3f, %d calls" % [call_name, times.max() / 1000.0, times.size()])
	print("  events: %s" % " ".join(events.map(func(e): return e[0])))
	if _count(events, "completed", 0) != 3 or node.get_status() != node.STATUS_STOPPED:
		_fail("the timeline did not complete three times and stop: %s" % [events])
	node.free()


## Runs `node` between two probes for `seconds`, calling `each_frame(elapsed_s)` once a
## frame when given; returns the probe samples (microseconds), when each frame window
## began and when the run began. The caller frees `node`.
func _probed(node: Node, seconds: float, each_frame: Callable) -> Dictionary:
	var before := Probe.new()
	before.process_priority = -1000
	var after := Probe.new()
	after.process_priority = 1000
	after.before = before
	root.add_child(before)
	if node.get_parent() == null:
		root.add_child(node)
	root.add_child(after)
	var started := Time.get_ticks_usec()
	while Time.get_ticks_usec() - started < seconds * 1e6:
		if each_frame.is_valid():
			each_frame.call((Time.get_ticks_usec() - started) / 1e6)
		await process_frame
	var frames := {"samples": after.samples, "starts": after.starts, "started": started}
	before.free()
	after.free()
	return frames


## The calls of run d, by elapsed time: start() at 0 s, start() again on the mapped node
## at 30 %, stop() at 55 % and start() once stopped, stop() at 90 %; refresh() once a
## second while mapped; get_status_text() every frame. Each call is timed into `calls`,
## start() and stop() are also noted in `events`; `state` holds the step reached and the
## second of the last refresh().
func _timeline(
	elapsed: float, node: Node, state: Dictionary, calls: Dictionary, events: Array, seconds: float
) -> void:
	var step: int = state.step
	var mapped: bool = node.get_status() == node.STATUS_MAPPED
	if step == 0:
		_timed(calls, "start()", node.start, events)
		step = 1
	elif step == 1 and elapsed > 0.3 * seconds and mapped:
		_timed(calls, "start() while mapped (restart)", node.start, events)
		step = 2
	elif step == 2 and elapsed > 0.55 * seconds and mapped:
		_timed(calls, "stop()", node.stop, events)
		step = 3
	elif step == 3 and node.get_status() == node.STATUS_STOPPED:
		_timed(calls, "start()", node.start, events)
		step = 4
	elif step == 4 and elapsed > 0.9 * seconds and mapped:
		_timed(calls, "stop()", node.stop, events)
		step = 5
	elif mapped and int(elapsed) > state.refreshed_at:
		state.refreshed_at = int(elapsed)
		_timed(calls, "refresh()", node.refresh, [])
	state.step = step
	_timed(calls, "get_status_text()", node.get_status_text, [])


## Calls `callable`, appends its duration (microseconds) to calls[name] and notes the
## call in `events` (when given one to note it in).
func _timed(calls: Dictionary, call_name: String, callable: Callable, events: Array) -> void:
	var started := Time.get_ticks_usec()
	callable.call()
	var took := Time.get_ticks_usec() - started
	if not calls.has(call_name):
		calls[call_name] = []
	calls[call_name].append(took)
	events.append([call_name.get_slice(" ", 0), started, ""])


## e: the class reference's example (discover() then add_port_mapping on a Thread, the
## result deferred to the main thread), from Thread.start() to the deferred result.
func _bench_example(cls: String, port: int) -> void:
	var runs := int(args.get("EXAMPLE_RUNS", "3"))
	print(
		(
			"\n== e. threaded example with %s: discover() + add_port_mapping(%d UDP), %d runs"
			% [cls, port, runs]
		)
	)
	var times := []
	for run in runs:
		var done := []
		var thread := Thread.new()
		var started := Time.get_ticks_usec()
		thread.start(_example.bind(cls, port, done))
		await _wait_until(func(): return not thread.is_alive(), 30000)
		if not thread.is_alive():
			thread.wait_to_finish()
		await process_frame  # the deferred result
		if done.is_empty() or done[0][0] != OK:
			_fail("the example with %s did not map the port: %s" % [cls, done])
			return
		times.append(done[0][1] - started)
	_stat("Thread.start() -> result on the main thread", times)


## The example's thread; removes the mapping after reporting (not timed).
func _example(cls: String, port: int, done: Array) -> void:
	var upnp = ClassDB.instantiate(cls)
	var err: int = upnp.discover()
	if err == OK and upnp.get_gateway() and upnp.get_gateway().is_valid_gateway():
		err = upnp.add_port_mapping(port, port, "bench example", "UDP")
	_example_done.call_deferred(err, done)
	if err == OK:
		upnp.delete_port_mapping(port, "UDP")


func _example_done(err: int, done: Array) -> void:
	done.append([err, Time.get_ticks_usec()])


## On a thread: restarts the router forgetting its mappings; returns when the script
## returned (ticks_usec), or -1 when it failed.
func _restart_router() -> int:
	var command := (
		"IGD_STATE_DIR='%s' IGD_CLEAR_LEASES=1 '%s' '%s' >/dev/null 2>&1"
		% [args.get("IGD_STATE_DIR"), args.get("RESTART_SCRIPT"), args.get("IGD_ROUTER_NS")]
	)
	var status := OS.execute("bash", ["-c", command])
	var returned := Time.get_ticks_usec()
	return returned if status == 0 else -1


## A mapper in the tree, UDP and TCP, IPv4 only (the numbers are the IPv4 path's, as
## before the ipv6 property); its signals append [name, ticks_usec, details] to `events`.
func _mapper(port: int, events: Array) -> Node:
	var node: Node = ClassDB.instantiate("UPNPPortMapper")
	node.port = port
	node.description = "bench mapper"
	node.lease_duration = 3600
	node.ipv6 = false
	node.upnp_completed.connect(
		func(code): events.append(["completed", Time.get_ticks_usec(), code])
	)
	node.port_mapped.connect(
		func(_address, external_port, protocol, _method):
			events.append(["mapped", Time.get_ticks_usec(), "%s %d" % [protocol, external_port]])
	)
	node.mapping_lost.connect(
		func(protocol, reason):
			events.append(["lost", Time.get_ticks_usec(), "%s: %s" % [protocol, reason]])
	)
	root.add_child(node)
	return node


## Waits for upnp_completed; false (and a failure) unless it came with 0 in time.
func _completed_ok(events: Array) -> bool:
	await _wait_until(func(): return _index(events, "completed", 0) >= 0, WAIT_MS)
	var i := _index(events, "completed", 0)
	if i < 0 or events[i][2] != 0:
		_fail("expected upnp_completed(0) within %d ms; signals: %s" % [WAIT_MS, events])
		return false
	return true


## stop(), waits for STATUS_STOPPED (the mappings removed), frees the node.
func _stop(node: Node) -> void:
	node.stop()
	if not await _wait_until(func(): return node.get_status() == node.STATUS_STOPPED, WAIT_MS):
		_fail("stop() did not end within %d ms: %s" % [WAIT_MS, node.get_status_text()])
	node.free()


## Waits frame by frame until `condition` holds (true) or `limit_ms` passed (false).
func _wait_until(condition: Callable, limit_ms: int) -> bool:
	var until := Time.get_ticks_msec() + limit_ms
	while not condition.call():
		if Time.get_ticks_msec() > until:
			return false
		await process_frame
	return true


func _index(events: Array, event_name: String, from: int) -> int:
	for i in range(from, events.size()):
		if events[i][0] == event_name:
			return i
	return -1


func _count(events: Array, event_name: String, from: int) -> int:
	return events.slice(from).filter(func(e): return e[0] == event_name).size()


## The time of the first `event_name` event.
func _at(events: Array, event_name: String) -> int:
	return events[_index(events, event_name, 0)][1]


## The time of the `nth` (1-based) `event_name` event from index `from` on.
func _nth_at(events: Array, event_name: String, from: int, nth: int) -> int:
	var matching := events.slice(from).filter(func(e): return e[0] == event_name)
	return matching[nth - 1][1]


## Prints min / median / mean / max (ms) of microsecond values, and how many met `goal_ms`.
func _stat(label: String, usecs: Array, goal_ms := 0.0) -> void:
	var ms := usecs.map(func(u): return u / 1000.0)
	ms.sort()
	var n := ms.size()
	var median: float = (ms[floori((n - 1) / 2.0)] + ms[floori(n / 2.0)]) / 2.0
	var mean: float = ms.reduce(func(a, b): return a + b, 0.0) / n
	var line := (
		"  %-44s min %8.1f  median %8.1f  mean %8.1f  max %8.1f  (n=%d)"
		% [label, ms[0], median, mean, ms[-1], n]
	)
	if goal_ms > 0.0:
		line += (
			"  goal <= %.0f ms: met in %d of %d"
			% [goal_ms, ms.filter(func(v): return v <= goal_ms).size(), n]
		)
	print(line)


## Prints the frame count, max, 99th percentile and mean (microseconds) of probe samples,
## and the three worst frames: when, after which of `events`, and the signals in them.
func _frame_stats(label: String, frames: Dictionary, events: Array) -> void:
	var samples: PackedInt64Array = frames.samples
	var sorted := samples.duplicate()
	sorted.sort()
	var n := sorted.size()
	var total := 0
	for s in sorted:
		total += s
	print(
		(
			"  %-36s frames %d, max %d us, p99 %d us, mean %.1f us"
			% [label, n, sorted[n - 1], sorted[ceili(0.99 * n) - 1], float(total) / n]
		)
	)
	# Where the worst frames were, what came last before them (a signal or a call of the
	# timeline) and which of the node's signals they delivered.
	var order := Array(samples)
	for rank in mini(3, n):
		var worst := order.find(sorted[n - 1 - rank])
		order[worst] = -1  # equal samples: the next rank finds the next one
		var begin: int = frames.starts[worst]
		var inside := events.filter(
			func(e): return e[1] >= begin and e[1] <= begin + samples[worst]
		)
		var earlier := events.filter(func(e): return e[1] < begin)
		print(
			(
				"    %d us at %.3f s, %s, signals in that frame: %s"
				% [
					samples[worst],
					(begin - frames.started) / 1e6,
					(
						"%.1f ms after %s" % [(begin - earlier[-1][1]) / 1000.0, earlier[-1][0]]
						if earlier
						else "first"
					),
					" ".join(inside.map(func(e): return e[0])) if inside else "none"
				]
			)
		)


func _runs() -> int:
	return int(args.get("RUNS", "10"))


func _fail(message: String) -> void:
	print("FAIL %s" % message)
	failed = true
