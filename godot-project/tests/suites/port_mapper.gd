## UPNPPortMapper against the test-bed router: start -> upnp_completed(0) and
## port_mapped, the router's own list, conflicts, warm start, stop and free.
extends "res://tests/test_case.gd"

const WAIT_MS := 8000


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
	check_eq(
		node.get_status_text(),
		"UDP %d, TCP %d open on %s (UPnP)" % [port(20), port(20), bed_value("IGD_EXT_IP")],
		"status text"
	)
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
	node.start()
	await _wait_for(seen, "completed", WAIT_MS, Time.get_ticks_usec())
	check_eq(seen.get("completed"), 0, "upnp_completed")
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


func test_invalid_port_fails_at_once() -> void:
	var node := _mapper(0)
	var seen := _record(node)
	var code = expect_errors(
		func():
			node.start()
			return seen.get("completed"),
		["The port must be set between 1 and 65535."],
		"start() without a port"
	)
	check_eq(code, upnp_const("UPNP_RESULT_INVALID_PORT"), "upnp_completed")
	check_eq(node.get_status(), node.STATUS_FAILED, "status")
	node.free()


## A mapper in the tree for `external_port`, UDP and TCP, quick refresh.
func _mapper(external_port: int) -> Node:
	var node: Node = ClassDB.instantiate("UPNPPortMapper")
	node.port = external_port
	node.description = "gd mapper"
	node.lease_duration = 3600
	(Engine.get_main_loop() as SceneTree).root.add_child(node)
	return node


## Records the node's signals: "completed" (the code) and the lists "mapped", "lost",
## "address_changed".
func _record(node: Node) -> Dictionary:
	var seen := {"mapped": [], "lost": [], "address_changed": []}
	node.upnp_completed.connect(func(error): seen["completed"] = error)
	node.port_mapped.connect(func(a, p, proto, m): seen.mapped.append([a, p, proto, m]))
	node.mapping_lost.connect(func(proto, why): seen.lost.append([proto, why]))
	node.external_address_changed.connect(func(o, n): seen.address_changed.append([o, n]))
	return seen


## Waits (frames) until `seen` has `key`; returns ms since `started_usec`.
func _wait_for(seen: Dictionary, key: String, limit_ms: int, started_usec: int) -> float:
	await _wait_until(func(): return seen.has(key), limit_ms)
	return (Time.get_ticks_usec() - started_usec) / 1000.0


## Waits frame by frame until `condition` holds or `limit_ms` passed.
func _wait_until(condition: Callable, limit_ms: int) -> void:
	var tree := Engine.get_main_loop() as SceneTree
	var until := Time.get_ticks_msec() + limit_ms
	while not condition.call() and Time.get_ticks_msec() < until:
		await tree.process_frame
