## UPNPPortMapper under sequences a game meets, on a bed of its own (it changes the
## client's LAN address last): start() from a signal handler, a node moved in the tree,
## an invalid start() while mapped, and the computer's LAN address changing.
extends "res://tests/port_mapper_case.gd"


## Records get_status() and get_status_text() inside every signal handler.
func _record_status(node: Node) -> Array:
	var inside := []
	var note := func(signal_name: String):
		inside.append([signal_name, node.get_status(), node.get_status_text()])
	node.upnp_completed.connect(func(_e): note.call("upnp_completed"))
	node.port_mapped.connect(func(_a, _p, _proto, _m): note.call("port_mapped"))
	node.mapping_lost.connect(func(_proto, _why): note.call("mapping_lost"))
	return inside


## Before: process() went on dispatching the old mapper's events after a handler's
## start(): the script saw the old run's completion with the old port's text, and the new
## run's completion was never emitted.
func test_start_from_a_signal_handler_starts_cleanly() -> void:
	var node := _mapper(port(60))
	node.protocols = 1
	var texts := []
	node.upnp_completed.connect(func(error): texts.append([error, node.get_status_text()]))
	var restarted := [false]
	node.port_mapped.connect(
		func(_a, _p, _proto, _m):
			if not restarted[0]:
				restarted[0] = true
				node.port = port(61)
				node.start()
	)
	var seen := _record(node)
	node.start()
	await _wait_until(func(): return not texts.is_empty(), WAIT_MS)
	await _wait_until(func(): return false, 300)
	# The first run was replaced before it completed: only the second one completes.
	check_eq(texts.size(), 1, "one completion: %s" % str(texts))
	if texts.size() == 1:
		check_eq(texts[0][0], 0, "the second start() completed")
		check(texts[0][1].begins_with("UDP %d open" % port(61)), "its text: " + texts[0][1])
	check_eq(node.get_mapped_port("UDP"), port(61), "mapped port")
	check_eq(seen.order, ["port_mapped", "port_mapped", "upnp_completed"], "signals")
	check(router_leases().has("UDP:%d" % port(61)), "the new port is on the router")
	await _wait_until(func(): return not router_leases().has("UDP:%d" % port(60)), 2000)
	check(not router_leases().has("UDP:%d" % port(60)), "the old port was removed")
	node.free()


## Before: reparent() (exit_tree, enter_tree) stopped the work silently: status and text
## still said "open", nothing was on the router, no signal came.
func test_moving_the_node_in_the_tree_says_so_and_starts_again() -> void:
	var node := _mapper(port(62))
	node.protocols = 1
	var seen := _record(node)
	var inside := _record_status(node)
	await _start_and_wait(node, seen)
	node.auto_start = true
	var other := Node.new()
	(Engine.get_main_loop() as SceneTree).root.add_child(other)
	seen.erase("completed")
	node.reparent(other)
	check_eq(seen.lost, [["UDP", "the node left the scene tree"]], "mapping_lost on leaving")
	var lost_inside: Array = inside.filter(func(i): return i[0] == "mapping_lost")
	if check_eq(lost_inside.size(), 1, "one mapping_lost"):
		check(
			not lost_inside[0][2].contains(" open "),
			"text inside the handler: " + lost_inside[0][2]
		)
	await _wait_for(seen, "completed", WAIT_MS, Time.get_ticks_usec())
	check_eq(seen.get("completed"), 0, "auto_start mapped again after re-entering")
	check_eq(
		seen.order,
		["port_mapped", "upnp_completed", "mapping_lost", "port_mapped", "upnp_completed"],
		"signals"
	)
	check_eq(node.get_status(), node.STATUS_MAPPED, "status")
	check(router_leases().has("UDP:%d" % port(62)), "on the router again")
	# Without auto_start, leaving stops for good and says so.
	node.auto_start = false
	other.remove_child(node)
	check_eq(node.get_status(), node.STATUS_STOPPED, "status after leaving")
	check(node.get_status_text().contains("left the scene tree"), node.get_status_text())
	check_eq(node.get_mapped_port("UDP"), 0, "no port after leaving")
	check(not router_leases().has("UDP:%d" % port(62)), "removed from the router")
	node.free()
	other.free()


## Before: an invalid start() while mapped kept the old port in get_mapped_port().
func test_an_invalid_start_while_mapped_reports_the_loss() -> void:
	var node := _mapper(port(63))
	node.protocols = 1
	var seen := _record(node)
	await _start_and_wait(node, seen)
	seen.erase("completed")
	node.lease_duration = 3
	var code = expect_errors(
		func():
			node.start()
			return seen.get("completed"),
		["lease_duration must be 0 (permanent) or at least 10 seconds"],
		"lease 3 s"
	)
	check_eq(code, upnp_const("UPNP_RESULT_INVALID_DURATION"), "upnp_completed")
	check_eq(seen.lost.size(), 1, "mapping_lost")
	check_eq(node.get_mapped_port("UDP"), 0, "no mapped port")
	check_eq(node.get_status(), node.STATUS_FAILED, "status")
	await _wait_until(func(): return not router_leases().has("UDP:%d" % port(63)), 2000)
	check(not router_leases().has("UDP:%d" % port(63)), "the old mapping was removed")
	node.free()


## Before: the node compared the router's entry with the address of the discovery and
## went on saying "open" while the router forwarded to the old address. Last: the bed's
## client keeps its new address.
func test_a_lan_address_change_is_noticed_and_repaired() -> void:
	var node := _mapper(port(64))
	node.protocols = 1
	var seen := _record(node)
	await _start_and_wait(node, seen)
	var old_address := bed_value("IGD_CLIENT_IP")
	check_eq(router_leases().get("UDP:%d" % port(64), {}).get("client"), old_address, "before")
	# The computer gets another address (DHCP, another Wi-Fi): 10.77.0.3 stays alone.
	var out := []
	check_eq(
		OS.execute("sysctl", ["-qw", "net.ipv4.conf.c0.promote_secondaries=1"], out, true),
		0,
		str(out)
	)
	check_eq(
		OS.execute("ip", ["addr", "del", old_address + "/24", "dev", "c0"], out, true), 0, str(out)
	)
	node.refresh()
	await _wait_until(func(): return seen.mapped.size() >= 2, WAIT_MS)
	check_eq(
		seen.lost,
		[["UDP", "this computer's LAN address changed from %s to 10.77.0.3" % old_address]],
		"mapping_lost"
	)
	var chosen: int = node.get_mapped_port("UDP")
	print("     port_mapper: after the address change the node maps UDP %d" % chosen)
	check_eq(
		router_leases().get("UDP:%d" % chosen, {}).get("client"), "10.77.0.3", "for the new address"
	)
	check_eq(node.get_status(), node.STATUS_MAPPED, "status")
	node.free()
	check(not router_leases().has("UDP:%d" % chosen), "freeing the node removed the new mapping")
