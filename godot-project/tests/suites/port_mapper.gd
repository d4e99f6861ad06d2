## UPNPPortMapper against the test-bed router: start -> upnp_completed(0) and
## port_mapped, the router's own list, conflicts, warm start, stop and free.
extends "res://tests/port_mapper_case.gd"

## The methods a thread calls on a node in the tree.
const THREAD_METHODS := [
	"get_status",
	"get_status_text",
	"get_mapped_port",
	"get_external_address",
	"refresh",
	"stop",
	"start",
]


func test_start_maps_both_protocols() -> void:
	var node := _mapper(port(20))
	var seen := _record(node)
	var started := Time.get_ticks_usec()
	node.start()
	var completed_after: float = await _wait_for(seen, "completed", WAIT_MS, started)
	print("     port_mapper: start() -> upnp_completed in %.1f ms" % completed_after)
	check_eq(seen.get("completed"), 0, "upnp_completed")
	check_eq(seen.mapped.size(), 2, "port_mapped signals")
	for proto in ["UDP", "TCP"]:
		var lease: Dictionary = router_leases().get("%s:%d" % [proto, port(20)], {})
		check_eq(lease.get("client"), bed_value("IGD_CLIENT_IP"), proto + " mapping on the router")
		check_eq(node.get_mapped_port(proto), port(20), proto + " mapped port")
	check_eq(node.get_external_address(), bed_value("IGD_EXT_IP"), "external address")
	check_eq(node.get_status(), node.STATUS_MAPPED, "status")
	var both := "UDP %d, TCP %d open on %s (UPnP)" % [port(20), port(20), bed_value("IGD_EXT_IP")]
	check_eq(node.get_status_text(), both, "status text")
	# Each handler read the state after its signal: one protocol open and the other being
	# opened, then both, then the completion.
	if check_eq(seen.status_at.size(), 3, "signals"):
		var first: Array = seen.status_at[0]
		check_eq([first[0], first[1]], ["port_mapped", node.STATUS_WORKING], "first port_mapped")
		check(
			(
				first[2].contains(" open on %s (UPnP). Opening " % bed_value("IGD_EXT_IP"))
				and first[2].ends_with(" %d..." % port(20))
			),
			"inside the first port_mapped: " + first[2]
		)
		check_eq(seen.status_at[1], ["port_mapped", node.STATUS_MAPPED, both], "second")
		check_eq(seen.status_at[2], ["upnp_completed", node.STATUS_MAPPED, both], "completion")
	node.stop()
	await _wait_until(func(): return node.get_status() == node.STATUS_STOPPED, 6000)
	check(not router_leases().has("UDP:%d" % port(20)), "stop() removed the UDP mapping")
	check(not router_leases().has("TCP:%d" % port(20)), "stop() removed the TCP mapping")
	check_eq(node.get_status(), node.STATUS_STOPPED, "status after stop()")
	node.free()


func test_warm_start_remembers_the_router() -> void:
	var file := FileAccess.open("user://upnp_port_mapper_gateway.txt", FileAccess.READ)
	if check(file != null, "a remembered gateway from the last test"):
		check_eq(file.get_as_text(), bed_value("IGD_ROOTDESC"), "remembered description URL")
	var node := _mapper(port(21))
	node.protocols = 1
	var seen := _record(node)
	var started := Time.get_ticks_usec()
	node.start()
	var completed_after: float = await _wait_for(seen, "completed", WAIT_MS, started)
	print("     port_mapper: warm start() -> upnp_completed in %.1f ms" % completed_after)
	check_eq(seen.get("completed"), 0, "upnp_completed")
	check(router_leases().has("UDP:%d" % port(21)), "mapping on the router")
	node.free()
	check(not router_leases().has("UDP:%d" % port(21)), "freeing the node removed the mapping")


func test_conflict_chooses_another_port() -> void:
	var held := int(bed_value("HELD_PORT"))
	var node := _mapper(held)
	node.protocols = 1
	var seen := _record(node)
	await _start_and_wait(node, seen)
	var chosen: int = node.get_mapped_port("UDP")
	print("     port_mapper: port %d held by 10.77.0.3, got %d" % [held, chosen])
	check(chosen != 0 and chosen != held, "another port was chosen: %d" % chosen)
	check_eq(seen.mapped.size(), 1, "port_mapped signals")
	if seen.mapped.size() == 1:
		check_eq(seen.mapped[0][1], chosen, "port_mapped reports the chosen port")
	var leases := router_leases()
	check_eq(leases.get("UDP:%d" % chosen, {}).get("client"), bed_value("IGD_CLIENT_IP"), "ours")
	check_eq(
		leases.get("UDP:%d" % held, {}).get("client"), "10.77.0.3", "the other host keeps its port"
	)
	node.free()


func test_free_right_after_start_returns_promptly() -> void:
	var node := _mapper(port(22))
	node.start()
	var started := Time.get_ticks_usec()
	node.free()
	var freed_ms := (Time.get_ticks_usec() - started) / 1000.0
	print("     port_mapper: free() during discovery took %.1f ms" % freed_ms)
	check(freed_ms < 150.0, "free() took %.1f ms" % freed_ms)
	# The worker finishes in the background: nothing may be left on the router.
	var mine := ["UDP:%d" % port(22), "TCP:%d" % port(22)]
	await _wait_until(
		func(): return not (router_leases().has(mine[0]) or router_leases().has(mine[1])), 3000
	)
	await _wait_until(func(): return false, 300)
	check(not router_leases().has(mine[0]), "no UDP mapping left behind")
	check(not router_leases().has(mine[1]), "no TCP mapping left behind")


func test_out_of_range_properties_fail_at_once() -> void:
	# [property, value, result constant, start of the error line]
	var cases := [
		["port", 0, "UPNP_RESULT_INVALID_PORT", "The port must be set between 1 and 65535."],
		["port", 65536, "UPNP_RESULT_INVALID_PORT", "The port must be set"],
		["port", -1, "UPNP_RESULT_INVALID_PORT", "The port must be set"],
		["internal_port", 70000, "UPNP_RESULT_INVALID_PORT", "internal_port must be 0"],
		["protocols", 0, "UPNP_RESULT_INVALID_PROTOCOL", "protocols must be UDP (1)"],
		["protocols", 4, "UPNP_RESULT_INVALID_PROTOCOL", "protocols must be UDP (1)"],
		["lease_duration", -5, "UPNP_RESULT_INVALID_DURATION", "lease_duration must be 0"],
		["port_fallback_count", -1, "UPNP_RESULT_INVALID_PARAM", "port_fallback_count must be"],
		["refresh_interval", -1.0, "UPNP_RESULT_INVALID_PARAM", "refresh_interval must be"],
		["refresh_interval", NAN, "UPNP_RESULT_INVALID_PARAM", "refresh_interval must be"],
		["discover_timeout", -1, "UPNP_RESULT_INVALID_PARAM", "discover_timeout must be"],
		["discover_timeout", 10, "UPNP_RESULT_INVALID_PARAM", "discover_timeout must be"],
		["discover_local_port", 70000, "UPNP_RESULT_INVALID_PARAM", "discover_local_port must be"],
		[
			"stun_server",
			"not a server",
			"UPNP_RESULT_INVALID_PARAM",
			"stun_server must be empty or"
		],
		[
			"stun_server",
			"stun.example.net:0",
			"UPNP_RESULT_INVALID_PARAM",
			"stun_server must be empty or"
		],
	]
	for case in cases:
		var node := _mapper(port(26))
		node.set(case[0], case[1])
		var seen := _record(node)
		var what := "%s = %s" % [case[0], case[1]]
		var code = expect_errors(
			func():
				node.start()
				return seen.get("completed"),
			[case[3]],
			what
		)
		check_eq(code, upnp_const(case[2]), what + ": upnp_completed")
		check_eq(node.get_status(), node.STATUS_FAILED, what + ": status")
		check(node.get_status_text().begins_with(case[3]), what + ": " + node.get_status_text())
		node.free()
	# A very long description is the router's business: it is sent (escaped) and mapped.
	var long := _mapper(port(26))
	long.protocols = 1
	long.description = "<&>".repeat(3000)
	var seen := _record(long)
	await _start_and_wait(long, seen)
	long.free()


func test_start_again_hands_over_without_blocking() -> void:
	var node := _mapper(port(25))
	node.protocols = 1
	var seen := _record(node)
	var at_completion := []
	node.upnp_completed.connect(
		func(_error): at_completion.append([node.get_status(), node.get_status_text()])
	)
	await _start_and_wait(node, seen)
	if check_eq(at_completion.size(), 1, "one upnp_completed"):
		check_eq(at_completion[0][0], node.STATUS_MAPPED, "status inside upnp_completed")
		check(at_completion[0][1].begins_with("UDP %d open" % port(25)), at_completion[0][1])
	seen.erase("completed")
	var started := Time.get_ticks_usec()
	node.start()
	var start_ms := (Time.get_ticks_usec() - started) / 1000.0
	print("     port_mapper: start() on a mapped node took %.3f ms" % start_ms)
	# Waiting for the old worker's removal took 30 ms and more; a debug build needs about 4.
	check(start_ms < 25.0, "start() on a mapped node returned at once: %.3f ms" % start_ms)
	await _wait_for(seen, "completed", WAIT_MS, started)
	check_eq(seen.get("completed"), 0, "upnp_completed after the second start()")
	# The old worker removed its mapping before the new one mapped the same port.
	await _wait_until(func(): return false, 300)
	check_eq(
		router_leases().get("UDP:%d" % port(25), {}).get("client"),
		bed_value("IGD_CLIENT_IP"),
		"the new mapping is on the router"
	)
	node.free()


func test_router_restart_restores_the_mapping() -> void:
	var node := _mapper(port(23))
	node.protocols = 1
	node.refresh_interval = 4.0
	var seen := _record(node)
	await _start_and_wait(node, seen)
	# A check now puts the next one about 2 s after the restart below ends, so that it
	# meets the restarted router (one landing mid-restart would wait out a discovery).
	node.refresh()
	await _wait_until(func(): return false, 200)
	# A reboot: the daemon restarts with no mappings (blocks about 2 s).
	restart_router({"IGD_CLEAR_LEASES": "1"})
	var restarted := Time.get_ticks_usec()
	await _wait_until(func(): return seen.mapped.size() >= 2, 2000 + WAIT_MS)
	var remapped_ms := (Time.get_ticks_usec() - restarted) / 1000.0
	print("     port_mapper: mapping back %.1f ms after the router restarted" % remapped_ms)
	check(remapped_ms < 4000.0, "back within one refresh interval (4 s): %.1f ms" % remapped_ms)
	check_eq(
		seen.order, ["port_mapped", "upnp_completed", "mapping_lost", "port_mapped"], "signals"
	)
	if seen.status_at.size() == 4:
		var lost: Array = seen.status_at[2]
		check_eq(lost[1], node.STATUS_WORKING, "status inside mapping_lost")
		check(
			lost[2].begins_with("UDP %d was lost (" % port(23)), "inside mapping_lost: " + lost[2]
		)
		check_eq(
			seen.status_at[3],
			[
				"port_mapped",
				node.STATUS_MAPPED,
				"UDP %d open on %s (UPnP)" % [port(23), bed_value("IGD_EXT_IP")]
			],
			"inside the port_mapped after the loss"
		)
	check(
		router_leases().get("UDP:%d" % port(23), {}).get("client") == bed_value("IGD_CLIENT_IP"),
		"the router lists the mapping again"
	)
	check_eq(node.get_status(), node.STATUS_MAPPED, "status")
	node.free()
	check(not router_leases().has("UDP:%d" % port(23)), "freeing the node removed the mapping")


## Last in this suite: the router keeps the new address afterwards.
func test_external_address_change_is_reported() -> void:
	var node := _mapper(port(24))
	node.protocols = 1
	node.refresh_interval = 4.0
	var seen := _record(node)
	await _start_and_wait(node, seen)
	var old_address := bed_value("IGD_EXT_IP")
	check_eq(node.get_external_address(), old_address, "external address before")
	# As in the restart test: a check now keeps the next one clear of the restart, which
	# would otherwise see the router down and (rightly) report the mapping lost.
	node.refresh()
	await _wait_until(func(): return false, 200)
	# The provider hands the router another address; its mappings stay.
	var new_address := "22.33.44.55"
	check_eq(restart_router({"IGD_EXT_IP": new_address}).get("IGD_EXT_IP"), new_address, "restart")
	await _wait_until(func(): return not seen.address_changed.is_empty(), 2000 + WAIT_MS)
	check_eq(seen.address_changed, [[old_address, new_address]], "external_address_changed")
	var inside: Array = seen.status_at[seen.order.find("external_address_changed")]
	check_eq(
		inside[2],
		"UDP %d open on %s (UPnP)" % [port(24), new_address],
		"status text inside external_address_changed"
	)
	check_eq(node.get_external_address(), new_address, "external address after")
	await _wait_until(func(): return node.get_status_text().contains(new_address), 2000)
	check_eq(
		node.get_status_text(), "UDP %d open on %s (UPnP)" % [port(24), new_address], "status text"
	)
	check(seen.lost.is_empty(), "no mapping lost: %s" % str(seen.lost))
	node.free()


func test_calls_from_threads_and_bad_arguments() -> void:
	var node := _mapper(port(27))
	var seen := _record(node)
	await _start_and_wait(node, seen)
	# A node in the tree belongs to the main thread: four threads call every method at
	# once, each call prints one line and changes nothing; call_deferred works.
	var threads: Array[Thread] = []
	for t in 4:
		var thread := Thread.new()
		thread.start(_call_from_thread.bind(node))
		threads.append(thread)
	await _wait_until(func(): return threads.all(func(th): return not th.is_alive()), 10000)
	var defaults := 0
	for thread in threads:
		defaults += int(thread.wait_to_finish())
	check_eq(defaults, 4, "threads that got the documented defaults")
	var lines := log_capture.take()
	check_eq(lines.size(), 4 * THREAD_METHODS.size(), "one error line per call from a thread")
	for method in THREAD_METHODS:
		var count := 0
		for entry in lines:
			count += int(
				entry.text.begins_with("UPNPPortMapper: %s() was called from a thread" % method)
			)
		check_eq(count, 4, "lines naming %s()" % method)
	await _wait_until(func(): return node.get_status() != node.STATUS_MAPPED, 300)
	check_eq(node.get_status(), node.STATUS_MAPPED, "still mapped after the threads' stop()")
	check(router_leases().has("UDP:%d" % port(27)), "the router still holds the mapping")
	# Protocol names other than "UDP" / "TCP": 0 and one error line each.
	for name in ["udp", "", "UDP ", "x".repeat(100000)]:
		var got = expect_errors(
			func(): return node.get_mapped_port(name),
			['get_mapped_port() takes "UDP" or "TCP"'],
			"get_mapped_port(%s)" % name.left(8)
		)
		check_eq(got, 0, "get_mapped_port(%s)" % name.left(8))
	node.free()
	check(not router_leases().has("UDP:%d" % port(27)), "freeing the node removed the mapping")
	# Nodes outside the tree may be used from any thread: bad input fails there, once.
	var own: Array[Thread] = []
	for t in 4:
		var thread := Thread.new()
		thread.start(_own_node_in_thread)
		own.append(thread)
	var failed_at_once := 0
	for thread in own:
		failed_at_once += int(thread.wait_to_finish())
	check_eq(failed_at_once, 4, "threads whose own node failed at once with INVALID_PORT")
	var own_lines := log_capture.take()
	check_eq(own_lines.size(), 4, "one error line per thread's own node")


## Every method from a thread; true when each returned its documented default.
func _call_from_thread(node: Node) -> bool:
	var ok: bool = node.get_status() == node.STATUS_IDLE
	ok = ok and node.get_status_text() == ""
	ok = ok and node.get_mapped_port("UDP") == 0
	ok = ok and node.get_external_address() == ""
	node.refresh()
	node.stop()
	node.start()
	node.call_deferred("refresh")
	return ok


## A node of the thread's own, outside the tree, with an invalid port.
func _own_node_in_thread() -> bool:
	var node: Node = ClassDB.instantiate("UPNPPortMapper")
	var codes := []
	node.upnp_completed.connect(func(error): codes.append(error))
	node.start()
	var ok := codes == [upnp_const("UPNP_RESULT_INVALID_PORT")]
	ok = ok and node.get_status() == node.STATUS_FAILED
	node.free()
	return ok
