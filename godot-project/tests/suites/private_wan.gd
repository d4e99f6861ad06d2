## The router's WAN address is private (bed IGD_EXT_IP=none, the CGNAT case): it answers
## GetExternalIPAddress with an empty address and refuses every mapping with 501.
## Ours reports a working gateway (IGD_STATUS_OK) that cannot map; the engine reports it
## disconnected (Godot issue #87953). The engine's run is only observed.
extends "res://tests/test_case.gd"


func test_gateway_with_private_wan_address() -> void:
	var upnp := new_upnp()
	log_capture.take()
	observe("discover", upnp.discover(1000))
	var device: RefCounted = upnp.get_device(0) if upnp.get_device_count() > 0 else null
	observe("igd_status", device.igd_status if device != null else -1)
	var gateway: RefCounted = upnp.get_gateway()
	observe("gateway", gateway != null)
	observe("external_address", upnp.query_external_address())
	observe("add", upnp.add_port_mapping(port(7)))
	var lines: PackedStringArray = []
	for entry in log_capture.take():
		lines.append(entry.text)
	observe("error_lines", lines.size())
	if is_engine():
		return
	check_eq(observations.discover, 0, "discover")
	check_eq(observations.igd_status, device_const("IGD_STATUS_OK"), "status of a CGNAT router")
	check(gateway != null, "the router is the gateway")
	check_eq(observations.external_address, "", "external address (the router reports none)")
	check_eq(
		observations.add, upnp_const("UPNP_RESULT_ACTION_FAILED"), "add on a router that cannot map"
	)
	check(not router_leases().has("UDP:%d" % port(7)), "no mapping on the router")
	check_eq(lines.size(), 1, "one error line for the failed add: %s" % str(lines))
	if lines.size() == 1:
		check(
			"ActionFailed" in lines[0] or "Action Failed" in lines[0] or "501" in lines[0], lines[0]
		)
