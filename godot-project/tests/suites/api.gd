## Behaviour without a router, identical for the engine's classes and ours (the runner
## runs this suite against both): defaults, properties, enums, the device list, and every
## invalid-input case of the reference with its code and error line.
extends "res://tests/test_case.gd"

const MUST_BE_VALID := "The Internet Gateway Device must be valid."
const PORT_RANGE := "The port number must be set between 1 and 65535 (inclusive)."
const INTERNAL_PORT_RANGE := "The port number must be set between 0 and 65535 (inclusive)."
const PROTOCOL := "The protocol must be either TCP or UDP."
const DURATION := "The port mapping's lease duration can't be negative."
const NO_DEVICES := "Couldn't find any UPNPDevices."


func test_defaults_and_properties() -> void:
	var upnp := new_upnp()
	check_eq(upnp.discover_multicast_if, "", "discover_multicast_if default")
	check_eq(upnp.discover_local_port, 0, "discover_local_port default")
	check_eq(upnp.discover_ipv6, false, "discover_ipv6 default")
	check_eq(upnp.get_device_count(), 0, "device count")
	upnp.discover_multicast_if = "eth1"
	upnp.set_discover_local_port(1900)
	upnp.discover_ipv6 = true
	check_eq(upnp.get_discover_multicast_if(), "eth1", "multicast interface set")
	check_eq(upnp.discover_local_port, 1900, "local port set")
	check_eq(upnp.is_discover_ipv6(), true, "ipv6 set")
	var device := new_device()
	check_eq(device.igd_status, device_const("IGD_STATUS_UNKNOWN_ERROR"), "igd_status default")
	for property in [
		"description_url", "service_type", "igd_control_url", "igd_service_type", "igd_our_addr"
	]:
		check_eq(device.get(property), "", property + " default")
		device.set(property, "x-" + property)
		check_eq(device.get(property), "x-" + property, property + " set")
	device.igd_status = device_const("IGD_STATUS_OK")
	check_eq(device.is_valid_gateway(), true, "status OK is a valid gateway")
	device.set_igd_status(device_const("IGD_STATUS_DISCONNECTED"))
	check_eq(device.get_igd_status(), 5, "status set through the setter")
	check_eq(device.is_valid_gateway(), false, "status 5 is not a valid gateway")


func test_enum_values() -> void:
	var results := [
		"SUCCESS",
		"NOT_AUTHORIZED",
		"PORT_MAPPING_NOT_FOUND",
		"INCONSISTENT_PARAMETERS",
		"NO_SUCH_ENTRY_IN_ARRAY",
		"ACTION_FAILED",
		"SRC_IP_WILDCARD_NOT_PERMITTED",
		"EXT_PORT_WILDCARD_NOT_PERMITTED",
		"INT_PORT_WILDCARD_NOT_PERMITTED",
		"REMOTE_HOST_MUST_BE_WILDCARD",
		"EXT_PORT_MUST_BE_WILDCARD",
		"NO_PORT_MAPS_AVAILABLE",
		"CONFLICT_WITH_OTHER_MECHANISM",
		"CONFLICT_WITH_OTHER_MAPPING",
		"SAME_PORT_VALUES_REQUIRED",
		"ONLY_PERMANENT_LEASE_SUPPORTED",
		"INVALID_GATEWAY",
		"INVALID_PORT",
		"INVALID_PROTOCOL",
		"INVALID_DURATION",
		"INVALID_ARGS",
		"INVALID_RESPONSE",
		"INVALID_PARAM",
		"HTTP_ERROR",
		"SOCKET_ERROR",
		"MEM_ALLOC_ERROR",
		"NO_GATEWAY",
		"NO_DEVICES",
		"UNKNOWN_ERROR"
	]
	for i in results.size():
		check_eq(upnp_const("UPNP_RESULT_" + results[i]), i, "UPNP_RESULT_" + results[i])
	var statuses := [
		"OK",
		"HTTP_ERROR",
		"HTTP_EMPTY",
		"NO_URLS",
		"NO_IGD",
		"DISCONNECTED",
		"UNKNOWN_DEVICE",
		"INVALID_CONTROL",
		"MALLOC_ERROR",
		"UNKNOWN_ERROR"
	]
	for i in statuses.size():
		check_eq(device_const("IGD_STATUS_" + statuses[i]), i, "IGD_STATUS_" + statuses[i])


func test_device_add_checks_in_engine_order() -> void:
	var d := new_device()
	var cases := [
		[func(): return d.add_port_mapping(0, -1, "", "x", -1), 16, MUST_BE_VALID],
		[func(): return _valid(d).add_port_mapping(0, -1, "", "x", -1), 17, PORT_RANGE],
		[func(): return d.add_port_mapping(65536), 17, PORT_RANGE],
		[func(): return d.add_port_mapping(1, -1, "", "x", -1), 17, INTERNAL_PORT_RANGE],
		[func(): return d.add_port_mapping(1, 65536), 17, INTERNAL_PORT_RANGE],
		[func(): return d.add_port_mapping(1, 0, "", "udp", -1), 18, PROTOCOL],
		[func(): return d.add_port_mapping(1, 0, "", "", 0), 18, PROTOCOL],
		[func(): return d.add_port_mapping(1, 0, "", "UDP ", 0), 18, PROTOCOL],
		[func(): return d.add_port_mapping(1, 0, "", "TCP", -1), 19, DURATION],
	]
	for i in cases.size():
		var code = expect_errors(cases[i][0], [cases[i][2]], "add case %d" % i)
		check_eq(code, cases[i][1], "add case %d result" % i)


func test_device_calls_without_a_control_url() -> void:
	var d := _valid(new_device())
	var code = expect_errors(
		func(): return d.add_port_mapping(7777), ["Couldn't add port mapping."], "add"
	)
	check_eq(code, upnp_const("UPNP_RESULT_HTTP_ERROR"), "add without control URL")
	code = expect_errors(
		func(): return d.delete_port_mapping(7777), ["Couldn't delete port mapping."], "del"
	)
	check_eq(code, upnp_const("UPNP_RESULT_HTTP_ERROR"), "delete without control URL")
	var address = expect_errors(
		func(): return d.query_external_address(), ["Couldn't get external IP address."], "ext"
	)
	check_eq(address, "", "external address without control URL")
	var long := "x".repeat(100000)
	code = expect_errors(
		func(): return d.add_port_mapping(7777, 0, long), ["Couldn't add port mapping."], "long"
	)
	check_eq(code, upnp_const("UPNP_RESULT_HTTP_ERROR"), "add with a 100,000-character description")
	code = expect_errors(
		func(): return d.add_port_mapping(7777, 0, "", long), [PROTOCOL], "long proto"
	)
	check_eq(
		code, upnp_const("UPNP_RESULT_INVALID_PROTOCOL"), "add with a 100,000-character protocol"
	)


func test_device_delete_and_query_checks() -> void:
	var d := new_device()
	# delete does not check the device's validity (the engine's behaviour)
	check_eq(
		expect_errors(func(): return d.delete_port_mapping(0), [PORT_RANGE], "del 0"),
		17,
		"delete 0"
	)
	check_eq(
		expect_errors(func(): return d.delete_port_mapping(65536, "x"), [PORT_RANGE], "del"),
		17,
		"delete 65536"
	)
	check_eq(
		expect_errors(func(): return d.delete_port_mapping(80, "tcp"), [PROTOCOL], "del tcp"),
		18,
		"delete tcp"
	)
	check_eq(
		expect_errors(func(): return d.query_external_address(), [MUST_BE_VALID], "ext"),
		"",
		"query invalid"
	)


func test_device_list() -> void:
	var upnp := new_upnp()
	check_eq(
		expect_errors(func(): return upnp.get_gateway(), [NO_DEVICES], "gateway"),
		null,
		"no gateway"
	)
	var bounds := "Index index = 5 is out of bounds (devices.size() = 0)."
	check_eq(
		expect_errors(func(): return upnp.get_device(5), [bounds], "get 5"), null, "get_device(5)"
	)
	expect_errors(
		func(): return upnp.get_device(-1), ["Index index = -1 is out of bounds"], "get -1"
	)
	expect_errors(
		func(): upnp.add_device(null), ['Condition "device.is_null()" is true.'], "add null"
	)
	expect_errors(func(): upnp.remove_device(3), ["Index index = 3 is out of bounds"], "remove 3")
	var first := new_device()
	expect_errors(func(): upnp.set_device(0, first), ["Index index = 0 is out of bounds"], "set 0")
	upnp.add_device(first)
	var second := new_device()
	upnp.add_device(second)
	check_eq(upnp.get_device_count(), 2, "two devices")
	check(upnp.get_device(1) == second, "get_device(1) is the second device")
	# Devices that are not gateways: no gateway, and no message.
	check_eq(
		expect_errors(func(): return upnp.get_gateway(), [], "no valid"), null, "no valid gateway"
	)
	second.igd_status = device_const("IGD_STATUS_OK")
	check(upnp.get_gateway() == second, "the first valid device is the gateway")
	expect_errors(
		func(): upnp.set_device(0, null), ['Condition "device.is_null()" is true.'], "set null"
	)
	var third := new_device()
	upnp.set_device(0, third)
	check(upnp.get_device(0) == third, "set_device replaced the device")
	upnp.remove_device(0)
	check(upnp.get_device(0) == second, "remove_device shifted the list")
	upnp.clear_devices()
	check_eq(upnp.get_device_count(), 0, "cleared")


func test_upnp_calls_without_a_gateway() -> void:
	var upnp := new_upnp()
	var no_gateway := upnp_const("UPNP_RESULT_NO_GATEWAY")
	check_eq(
		expect_errors(func(): return upnp.add_port_mapping(7777), [NO_DEVICES], "add"),
		no_gateway,
		"add"
	)
	check_eq(
		expect_errors(func(): return upnp.delete_port_mapping(7777), [NO_DEVICES], "d"),
		no_gateway,
		"delete"
	)
	check_eq(
		expect_errors(func(): return upnp.query_external_address(), [NO_DEVICES], "q"), "", "query"
	)
	upnp.add_device(new_device())
	check_eq(
		expect_errors(func(): return upnp.add_port_mapping(7777), [], "add2"),
		no_gateway,
		"add, no valid"
	)


func test_discover_checks_before_clearing_the_list() -> void:
	var upnp := new_upnp()
	upnp.add_device(new_device())
	var wait := "The response's wait time can't be negative."
	var ttl := "The time-to-live must be set between 0 and 255 (inclusive)."
	var invalid := upnp_const("UPNP_RESULT_INVALID_PARAM")
	check_eq(
		expect_errors(func(): return upnp.discover(-1), [wait], "timeout"), invalid, "discover(-1)"
	)
	check_eq(
		expect_errors(func(): return upnp.discover(-1, 999), [wait], "both"),
		invalid,
		"timeout first"
	)
	check_eq(
		expect_errors(func(): return upnp.discover(0, 256), [ttl], "ttl 256"), invalid, "ttl 256"
	)
	check_eq(expect_errors(func(): return upnp.discover(0, -1), [ttl], "ttl -1"), invalid, "ttl -1")
	check_eq(upnp.get_device_count(), 1, "the list survives rejected arguments")


func _valid(device: RefCounted) -> RefCounted:
	device.igd_status = device_const("IGD_STATUS_OK")
	return device


func test_extreme_integers() -> void:
	var upnp := new_upnp()
	upnp.add_device(new_device())
	var low := -2147483648
	var high := 2147483647
	var bounds := "is out of bounds (devices.size() = 1)."
	expect_errors(func(): return upnp.get_device(high), [bounds], "get_device(high)")
	expect_errors(func(): upnp.remove_device(-1), [bounds], "remove_device(-1)")
	expect_errors(func(): upnp.set_device(low, new_device()), [bounds], "set_device(low)")
	check_eq(upnp.get_device_count(), 1, "the list after rejected indices")
	var d := _valid(new_device())
	var cases := [
		[func(): return d.add_port_mapping(low), 17, PORT_RANGE],
		[func(): return d.add_port_mapping(high), 17, PORT_RANGE],
		[func(): return d.add_port_mapping(1, low), 17, INTERNAL_PORT_RANGE],
		[func(): return d.add_port_mapping(1, 0, "", "UDP", low), 19, DURATION],
		[func(): return d.delete_port_mapping(high), 17, PORT_RANGE],
		[func(): return upnp.discover(low), 22, "The response's wait time can't be negative."],
		[
			func(): return upnp.discover(high, high),
			22,
			"The time-to-live must be set between 0 and 255 (inclusive)."
		],
	]
	for i in cases.size():
		var code = expect_errors(cases[i][0], [cases[i][2]], "extreme case %d" % i)
		check_eq(code, cases[i][1], "extreme case %d result" % i)
