## The client has no multicast route (bed IGD_MCAST_ROUTE=0): ours searches on every LAN
## interface and finds the router anyway (the engine finds nothing); naming the interface in
## `discover_multicast_if`, by name or by address, works for both. Runs against the
## engine's classes (observed) and ours (checked).
extends "res://tests/test_case.gd"


func test_without_interface() -> void:
	var upnp := new_upnp()
	var outcome := _with_error_lines(func(): return upnp.discover(1000))
	observe("default_if", outcome[0])
	observe("default_if_error_lines", outcome[1].size())
	observe("default_if_devices", upnp.get_device_count())
	if not is_engine():
		check_eq(outcome[0], 0, "discover() without a multicast route")
		check_eq(outcome[1].size(), 0, "no error lines: %s" % str(outcome[1]))
		var gateway: RefCounted = upnp.get_gateway()
		if check(gateway != null, "the router found on c0"):
			check_eq(gateway.igd_our_addr, bed_value("IGD_CLIENT_IP"), "our address")


func test_interface_by_name() -> void:
	for ipv6 in [false, true]:
		var upnp := new_upnp()
		upnp.discover_multicast_if = "c0"
		upnp.discover_ipv6 = ipv6
		var key := "by_name_v6" if ipv6 else "by_name"
		var outcome := _with_error_lines(func(): return upnp.discover(1000))
		observe(key, outcome[0])
		var gateway: RefCounted = upnp.get_gateway()
		observe(key + "_gateway", gateway != null)
		if not is_engine():
			check_eq(outcome[0], 0, "discover through c0 (IPv6 %s)" % ipv6)
			check_eq(outcome[1].size(), 0, "no error lines: %s" % str(outcome[1]))
			if check(gateway != null, "a gateway through c0 (IPv6 %s)" % ipv6):
				var expected := bed_value("IGD_ROOTDESC6" if ipv6 else "IGD_ROOTDESC")
				check_eq(gateway.description_url, expected, "description_url")


func test_interface_by_address() -> void:
	var upnp := new_upnp()
	upnp.discover_multicast_if = bed_value("IGD_CLIENT_IP")
	var outcome := _with_error_lines(func(): return upnp.discover(1000))
	observe("by_address", outcome[0])
	observe("by_address_gateway", upnp.get_gateway() != null)
	if not is_engine():
		check_eq(outcome[0], 0, "discover through the client's address")
		check_eq(outcome[1].size(), 0, "no error lines: %s" % str(outcome[1]))
		check(upnp.get_gateway() != null, "a gateway through the client's address")


## [result of `call`, the error lines it printed] (not checked against any expectation).
func _with_error_lines(call: Callable) -> Array:
	log_capture.take()
	var result = call.call()
	var lines: PackedStringArray = []
	for entry in log_capture.take():
		lines.append(entry.text)
	return [result, lines]
