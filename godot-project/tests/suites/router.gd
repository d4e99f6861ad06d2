## Against the test-bed router (IGDv2, public external address): discovery over IPv4 and
## IPv6, the discovery source port, add / delete checked in the router's own lease file,
## the external address, conflicts with another LAN host. Runs against the engine's
## classes and ours; the observations feed the differential comparison.
extends "res://tests/test_case.gd"

const IGD1 := "urn:schemas-upnp-org:device:InternetGatewayDevice:1"


func test_discover_ipv4_fills_the_device_fields() -> void:
	var upnp := new_upnp()
	var started := Time.get_ticks_msec()
	check_eq(observe("discover", upnp.discover()), 0, "discover()")
	observe("discover_ms_under_3000", Time.get_ticks_msec() - started < 3000)
	check_eq(observe("device_count", upnp.get_device_count()), 1, "device count")
	var d: RefCounted = upnp.get_device(0)
	if not check(d != null, "device 0"):
		return
	check_eq(
		observe("description_url", d.description_url), bed_value("IGD_ROOTDESC"), "description_url"
	)
	check_eq(observe("service_type", d.service_type), IGD1, "service_type")
	check_eq(
		observe("igd_control_url", d.igd_control_url),
		"http://10.77.0.1:5000/ctl/IPConn",
		"control URL"
	)
	check_eq(
		observe("igd_service_type", d.igd_service_type),
		"urn:schemas-upnp-org:service:WANIPConnection:2",
		"service type"
	)
	check_eq(observe("igd_our_addr", d.igd_our_addr), bed_value("IGD_CLIENT_IP"), "our address")
	check_eq(observe("igd_status", d.igd_status), device_const("IGD_STATUS_OK"), "status")
	check(upnp.get_gateway() == d, "the device is the gateway")


func test_discover_ipv6() -> void:
	var upnp := new_upnp()
	upnp.discover_ipv6 = true
	check_eq(observe("discover", upnp.discover(1000)), 0, "discover over IPv6")
	var d: RefCounted = upnp.get_gateway()
	if not check(d != null, "an IPv6 gateway"):
		return
	check_eq(observe("description_url", d.description_url), bed_value("IGD_ROOTDESC6"), "LOCATION")
	check_eq(
		observe("igd_control_url", d.igd_control_url),
		"http://[fd77::1]:5000/ctl/IPConn",
		"control URL"
	)
	check_eq(
		observe("igd_our_addr", d.igd_our_addr), bed_value("IGD_CLIENT_IP6"), "our IPv6 address"
	)


func test_discover_local_port() -> void:
	for setting in [[1, 1900], [port(900), port(900)]]:
		var upnp := new_upnp()
		upnp.discover_local_port = setting[0]
		check_eq(upnp.discover(1000), 0, "discover from local port setting %d" % setting[0])
		var seen := _router_log().contains("SSDP M-SEARCH from 10.77.0.2:%d " % setting[1])
		check(
			observe("router_saw_port_%d" % setting[1], seen),
			"router saw no search from port %d" % setting[1]
		)
	var any := new_upnp()
	check_eq(any.discover(1000), 0, "discover from a system-chosen port")


func test_filters() -> void:
	var upnp := new_upnp()
	# Another filter searches ssdp:all; the router answers, but no ST contains this text.
	check_eq(observe("other_filter", upnp.discover(1000, 2, "MediaRenderer")), 0, "other filter")
	check_eq(observe("other_filter_count", upnp.get_device_count()), 0, "nothing kept")
	check_eq(observe("empty_filter", upnp.discover(1000, 2, "")), 0, "empty filter")
	check(observe("empty_filter_count", upnp.get_device_count()) >= 1, "empty filter keeps answers")


func test_add_and_delete_change_the_router() -> void:
	var upnp := _discovered()
	if upnp == null:
		return
	for proto in ["UDP", "TCP"]:
		var key := "%s:%d" % [proto, port(1)]
		check_eq(
			observe(
				"add_" + proto, upnp.add_port_mapping(port(1), port(2), "gd " + proto, proto, 3600)
			),
			0,
			"add"
		)
		var lease: Dictionary = router_leases().get(key, {})
		check_eq(lease.get("client"), bed_value("IGD_CLIENT_IP"), key + " internal client")
		check_eq(lease.get("internal_port"), port(2), key + " internal port")
		check_eq(lease.get("description"), "gd " + proto, key + " description")
		check_eq(observe("delete_" + proto, upnp.delete_port_mapping(port(1), proto)), 0, "delete")
		check(not router_leases().has(key), key + " still on the router")
	# Defaults: internal port = external port, protocol UDP, lease 0, empty description.
	check_eq(upnp.add_port_mapping(port(3)), 0, "add with defaults")
	var lease: Dictionary = router_leases().get("UDP:%d" % port(3), {})
	check_eq(lease.get("internal_port"), port(3), "default internal port")
	# The engine sends "libminiupnpc" for an empty description, we send "Godot UPnP".
	observe("default_description", lease.get("description"))
	check_eq(upnp.delete_port_mapping(port(3)), 0, "delete with defaults")


func test_external_address() -> void:
	var upnp := _discovered()
	if upnp == null:
		return
	check_eq(observe("upnp", upnp.query_external_address()), bed_value("IGD_EXT_IP"), "UPNP")
	check_eq(
		observe("device", upnp.get_gateway().query_external_address()),
		bed_value("IGD_EXT_IP"),
		"device"
	)


func test_conflict_with_another_host() -> void:
	var upnp := _discovered()
	if upnp == null:
		return
	# The orchestrator mapped this UDP port for the second LAN address (10.77.0.3).
	var held := int(bed_value("HELD_PORT"))
	var add_code = expect_errors(
		func(): return upnp.add_port_mapping(held),
		["Couldn't add port mapping."],
		"conflicting add"
	)
	check_eq(
		observe("conflicting_add", add_code),
		upnp_const("UPNP_RESULT_CONFLICT_WITH_OTHER_MAPPING"),
		"add"
	)
	var delete_code = expect_errors(
		func(): return upnp.delete_port_mapping(held),
		["Couldn't delete port mapping."],
		"foreign delete"
	)
	check_eq(
		observe("foreign_delete", delete_code), upnp_const("UPNP_RESULT_NOT_AUTHORIZED"), "delete"
	)
	check_eq(
		router_leases().get("UDP:%d" % held, {}).get("client"),
		"10.77.0.3",
		"the other host keeps it"
	)


func test_device_built_by_hand() -> void:
	# A script that knows the control URL can skip discovery.
	var d := new_device()
	d.igd_control_url = "http://10.77.0.1:5000/ctl/IPConn"
	d.igd_service_type = "urn:schemas-upnp-org:service:WANIPConnection:1"
	d.igd_our_addr = bed_value("IGD_CLIENT_IP")
	d.igd_status = device_const("IGD_STATUS_OK")
	check_eq(
		observe("add", d.add_port_mapping(port(5), 0, "by hand", "TCP", 600)), 0, "add by hand"
	)
	check(router_leases().has("TCP:%d" % port(5)), "router holds the hand-made mapping")
	check_eq(observe("delete", d.delete_port_mapping(port(5), "TCP")), 0, "delete by hand")


func _discovered() -> RefCounted:
	var upnp := new_upnp()
	if (
		not check_eq(upnp.discover(1000), 0, "discover")
		or not check(upnp.get_gateway() != null, "gateway")
	):
		return null
	return upnp


func _router_log() -> String:
	return FileAccess.get_file_as_string(bed_value("IGD_STATE_DIR").path_join("miniupnpd.log"))
