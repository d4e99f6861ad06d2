## Hostile script input against the test-bed router: very long strings, odd interfaces
## and ports, nonsense device fields, extreme durations. Every call returns a documented
## UPNPResult within its timeout and prints at most one error line, of bounded length.
extends "res://tests/test_case.gd"

const LONG := 100000
## Longest error line accepted (values in messages are cut to 80 characters).
const MAX_LINE := 300


func test_discover_with_long_and_odd_settings() -> void:
	var upnp := new_upnp()
	var started := Time.get_ticks_msec()
	# miniupnpd delays each answer by up to MX (1 s): 1500 ms always gets one.
	var code = _call(func(): return upnp.discover(1500, 2, "x".repeat(LONG)), "", "long filter")
	check_eq(code, 0, "a 100,000-character filter: answered, nothing kept")
	check_eq(upnp.get_device_count(), 0, "no device passes that filter")
	check(Time.get_ticks_msec() - started < 2000, "discover(1500) returned in time")
	var socket_error := upnp_const("UPNP_RESULT_SOCKET_ERROR")
	for interface in ["x".repeat(LONG), "nosuch0", "300.1.2.3"]:
		upnp.discover_multicast_if = interface
		code = _call(func(): return upnp.discover(500), "UPnP discovery failed:", interface.left(8))
		check_eq(code, socket_error, "discover_multicast_if %s" % interface.left(8))
	upnp.discover_multicast_if = ""
	for local_port in [-5, 70000, 2147483647]:
		upnp.discover_local_port = local_port
		check_eq(upnp.discover(1500), 0, "discover_local_port %d means any port" % local_port)


func test_gateway_calls_with_extreme_arguments() -> void:
	var upnp := new_upnp()
	if not check_eq(upnp.discover(1000), 0, "discover"):
		return
	var code = _call(
		func(): return upnp.add_port_mapping(port(700), 0, "d".repeat(LONG), "UDP", 600),
		"",
		"long description"
	)
	check_eq(code, 0, "a 100,000-character description (miniupnpd keeps a prefix)")
	check_eq(upnp.delete_port_mapping(port(700), "UDP"), 0, "delete it")
	code = _call(
		func(): return upnp.add_port_mapping(port(701), 0, "", "TCP", 2147483647), "", "lease"
	)
	check_eq(code, 0, "the longest lease a script can give")
	check_eq(upnp.delete_port_mapping(port(701), "TCP"), 0, "delete it")


func test_device_fields_full_of_nonsense() -> void:
	var http_error := "UPNP_RESULT_HTTP_ERROR"
	var add_failed := "Couldn't add port mapping."
	# [field, value, result, start of the error line ("" = no line)]
	var cases := [
		["igd_control_url", "http://[::1", http_error, add_failed],
		["igd_control_url", "ftp://10.77.0.1/ctl", http_error, add_failed],
		["igd_control_url", "http://user:pw@10.77.0.1:5000/ctl/IPConn", http_error, add_failed],
		["igd_control_url", "http://" + "a".repeat(LONG), http_error, add_failed],
		["igd_control_url", "http://10.77.0.1:5999/ctl/IPConn", http_error, add_failed],
		["igd_our_addr", "not an address", "UPNP_RESULT_INVALID_ARGS", add_failed],
		# miniupnpd ignores the service type named in SOAPAction: the router's answer.
		["igd_service_type", "urn:nonsense", "UPNP_RESULT_SUCCESS", ""],
	]
	for case in cases:
		var d := new_device()
		d.igd_control_url = "http://10.77.0.1:5000/ctl/IPConn"
		d.igd_service_type = "urn:schemas-upnp-org:service:WANIPConnection:2"
		d.igd_our_addr = bed_value("IGD_CLIENT_IP")
		d.igd_status = device_const("IGD_STATUS_OK")
		d.set(case[0], case[1])
		var what := "%s = %s" % [case[0], str(case[1]).left(40)]
		var started := Time.get_ticks_msec()
		var code = _call(
			func(): return d.add_port_mapping(port(702), 0, "x", "UDP", 600), case[3], what
		)
		check_eq(code, upnp_const(case[2]), what)
		check(Time.get_ticks_msec() - started < 2000, what + ": returned within 2 s")
		if code == 0:
			d.delete_port_mapping(port(702), "UDP")


## Runs `call`; checks it printed exactly one line starting with `line` (none when ""),
## no longer than MAX_LINE. Returns the call's result.
func _call(call: Callable, line: String, what: String) -> Variant:
	log_capture.take()
	var result = call.call()
	var lines := log_capture.take()
	check_eq(lines.size(), 0 if line == "" else 1, what + ": error lines")
	for entry in lines:
		check(entry.text.begins_with(line), "%s: line %s" % [what, entry.text.left(200)])
		check(entry.text.length() <= MAX_LINE, "%s: %d characters" % [what, entry.text.length()])
	return result
