## The test-bed router among misbehaving LAN devices (igd-sim, started by
## tests/godot/run.sh on extra addresses of the client's LAN): one stalls, one sends its
## description at 1 byte/s, one an entity bomb, one 100 MB, one resets mid-body, one
## invalid XML, one redirects, one advertises a closed port, and one answers every search
## 10,000 times. Discovery still returns by its timeout and picks the real router; the
## node maps through it; memory stays bounded.
extends "res://tests/port_mapper_case.gd"

const MAX_GROWTH_KIB := 16384


func test_discover_returns_in_time_with_the_real_router() -> void:
	var upnp := new_upnp()
	var before := resident_kib()
	var started := Time.get_ticks_msec()
	var code = expect_errors(func(): return upnp.discover(2000), [], "discover")
	var elapsed := Time.get_ticks_msec() - started
	var grown := resident_kib() - before
	var statuses := {}
	for i in upnp.get_device_count():
		var d: RefCounted = upnp.get_device(i)
		statuses[d.description_url.get_slice("/", 2)] = d.igd_status
	print(
		(
			"     hostile_lan: discover(2000) in %d ms, %d devices %s, resident +%d KiB"
			% [elapsed, upnp.get_device_count(), statuses, grown]
		)
	)
	check_eq(code, 0, "discover()")
	check(elapsed < 2500, "discover(2000) returned after %d ms" % elapsed)
	var gateway: RefCounted = upnp.get_gateway()
	if check(gateway != null, "a gateway"):
		check_eq(gateway.description_url, bed_value("IGD_ROOTDESC"), "the gateway is the router")
	var hostile_ok := 0
	for i in upnp.get_device_count():
		var d: RefCounted = upnp.get_device(i)
		if d.description_url != bed_value("IGD_ROOTDESC"):
			hostile_ok += int(d.igd_status == device_const("IGD_STATUS_OK"))
	check_eq(hostile_ok, 0, "misbehaving devices judged usable")
	check(upnp.get_device_count() >= 5, "the misbehaving devices were listed too")
	check(grown <= MAX_GROWTH_KIB, "resident memory grew by %d KiB" % grown)
	check_eq(upnp.add_port_mapping(port(10)), 0, "add through the router")
	check(router_leases().has("UDP:%d" % port(10)), "the router holds the mapping")
	check_eq(upnp.delete_port_mapping(port(10)), 0, "delete")


func test_port_mapper_maps_through_the_router() -> void:
	DirAccess.remove_absolute("user://upnp_port_mapper_gateway.txt")
	var node := _mapper(port(11))
	var seen := _record(node)
	var after: float = await _start_and_wait(node, seen)
	print("     hostile_lan: UPNPPortMapper cold start -> upnp_completed in %.1f ms" % after)
	check(after < 2500, "upnp_completed within the discovery timeout")
	check(router_leases().has("UDP:%d" % port(11)), "the router holds the UDP mapping")
	check(router_leases().has("TCP:%d" % port(11)), "the router holds the TCP mapping")
	node.free()
