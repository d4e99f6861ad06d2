## UPNPPortMapper on a router with UPnP switched off and NAT-PMP/PCP on (bed
## IGD_ENABLE_UPNP=no with a default route to it): the node maps by PCP on its own.
extends "res://tests/port_mapper_case.gd"


func test_maps_by_pcp_when_upnp_is_off() -> void:
	var node := _mapper(port(30))
	var seen := _record(node)
	var started := Time.get_ticks_usec()
	node.start()
	var completed_after: float = await _wait_for(seen, "completed", WAIT_MS, started)
	print("     port_mapper_pmp: start() -> upnp_completed in %.1f ms" % completed_after)
	check_eq(seen.get("completed"), 0, "upnp_completed")
	check_eq(seen.mapped.size(), 2, "port_mapped signals")
	for mapped in seen.mapped:
		check_eq(mapped[0], bed_value("IGD_EXT_IP"), "port_mapped address")
		check_eq(mapped[1], port(30), "port_mapped port")
		check_eq(mapped[3], "PCP", "port_mapped method")
	for proto in ["UDP", "TCP"]:
		var lease: Dictionary = router_leases().get("%s:%d" % [proto, port(30)], {})
		check_eq(lease.get("client"), bed_value("IGD_CLIENT_IP"), proto + " mapping on the router")
	check_eq(
		node.get_status_text(),
		"UDP %d, TCP %d open on %s (PCP)" % [port(30), port(30), bed_value("IGD_EXT_IP")],
		"status text"
	)
	node.stop()
	await _wait_until(func(): return node.get_status() == node.STATUS_STOPPED, 6000)
	check(not router_leases().has("UDP:%d" % port(30)), "stop() removed the UDP mapping")
	check(not router_leases().has("TCP:%d" % port(30)), "stop() removed the TCP mapping")
	node.free()


func test_router_restart_is_noticed_by_its_epoch() -> void:
	var node := _mapper(port(31))
	node.protocols = 1
	var seen := _record(node)
	await _start_and_wait(node, seen)
	# Past the restart-detection slack (2 s) on both clocks; no check runs meanwhile
	# (refresh_interval 300 s), so the next renewal meets the restarted router.
	await _wait_until(func(): return false, 1000)
	restart_router({"IGD_CLEAR_LEASES": "1"})
	var restarted := Time.get_ticks_usec()
	node.refresh()
	await _wait_until(func(): return seen.mapped.size() >= 2, 2000 + WAIT_MS)
	var remapped_ms := (Time.get_ticks_usec() - restarted) / 1000.0
	print("     port_mapper_pmp: mapping back %.1f ms after the router restarted" % remapped_ms)
	check_eq(
		seen.order, ["port_mapped", "upnp_completed", "mapping_lost", "port_mapped"], "signals"
	)
	if seen.lost.size() == 1:
		check_eq(seen.lost[0][1], "the router restarted and forgot the mapping", "reason")
	check(router_leases().has("UDP:%d" % port(31)), "the router lists the mapping again")
	node.free()
	check(not router_leases().has("UDP:%d" % port(31)), "freeing the node removed the mapping")


func test_nat_pmp_can_be_switched_off() -> void:
	var node := _mapper(port(32))
	node.allow_nat_pmp = false
	node.discover_timeout = 500
	var seen := _record(node)
	var started := Time.get_ticks_usec()
	node.start()
	var completed_after: float = await _wait_for(seen, "completed", WAIT_MS, started)
	check(completed_after < 1500.0, "failed within the timeout: %.1f ms" % completed_after)
	check_eq(seen.get("completed"), upnp_const("UPNP_RESULT_NO_GATEWAY"), "upnp_completed")
	check(node.get_status_text().begins_with("No UPnP router answered"), node.get_status_text())
	check(not router_leases().has("UDP:%d" % port(32)), "nothing mapped")
	node.free()
