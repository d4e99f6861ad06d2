## IPv6 pinholes through RustUPNPDevice (additions: the engine has no equivalent) against
## the bed's miniupnpd, asked over IPv6 from the client (IGD_CLIENT_IP6): each action
## checked in the router's own firewall rules (what miniupnpd puts in `inet igd
## miniupnpd`), and on the wire: the WAN host sends a datagram and opens a TCP connection
## to the client's IPv6 address, dropped by the router without a pinhole and let through
## with one. Bad input gives the documented codes and one error line each. Then
## UPNPPortMapper with ipv6 on: its pinholes in the router's rules and on the wire until
## stop(), and opened again after a router reboot.
extends "res://tests/pinhole_case.gd"


## The gateway found by an IPv6 discovery (its URLs are IPv6, so requests come from the
## client's IPv6 address, as a router in secure mode requires).
func _gateway6() -> RefCounted:
	var upnp := new_upnp()
	upnp.discover_ipv6 = true
	check_eq(upnp.discover(1000), 0, "discover() over IPv6")
	var gateway = upnp.get_gateway()
	check(gateway != null, "a gateway found over IPv6")
	if gateway != null:
		check_eq(gateway.description_url, bed_value("IGD_ROOTDESC6"), "description_url")
	return gateway


## `code` as add_pinhole returns a failure: the UPNPResult negated.
func _failed(code_name: String) -> int:
	return -upnp_const(code_name)


func test_firewall_status() -> void:
	var gateway := _gateway6()
	if gateway == null:
		return
	var status = expect_errors(gateway.get_firewall_status, [], "get_firewall_status")
	check_eq(
		status,
		{"result": 0, "enabled": true, "inbound_pinhole_allowed": true},
		"the bed's firewall status"
	)
	# A device with no description URL: nothing to ask.
	var empty := new_device()
	status = expect_errors(empty.get_firewall_status, ["Couldn't get firewall status."], "no URL")
	check_eq(
		status,
		{
			"result": upnp_const("UPNP_RESULT_HTTP_ERROR"),
			"enabled": false,
			"inbound_pinhole_allowed": false
		},
		"status without a description URL"
	)
	# The service found is kept for that URL only: changing it looks again.
	gateway.description_url = ""
	status = expect_errors(
		gateway.get_firewall_status, ["Couldn't get firewall status."], "URL gone"
	)
	check_eq(status.result, upnp_const("UPNP_RESULT_HTTP_ERROR"), "status once the URL is gone")
	gateway.description_url = bed_value("IGD_ROOTDESC6")
	check_eq(gateway.get_firewall_status().result, 0, "status with the URL back")


func test_add_update_delete_in_the_routers_rules_and_on_the_wire() -> void:
	var gateway := _gateway6()
	if gateway == null:
		return
	var client6 := bed_value("IGD_CLIENT_IP6")
	var internal_port := port(0)
	var listener := Listener.new()
	check_eq(listener.open(internal_port), OK, "listening on port %d" % internal_port)
	_check_dropped(
		await _probe(listener, internal_port, 1, client6),
		"before any pinhole (the router drops it)"
	)

	# Started first, so that its arrival is timed from the pinhole, not the interpreter.
	var probe := await _launch_probe(internal_port, 3, client6)
	var ids := {}
	var added_usec := {}
	for proto in PROTOCOLS:
		var started := Time.get_ticks_usec()
		ids[proto] = expect_errors(
			func(): return gateway.add_pinhole("", 0, "", internal_port, proto, 600),
			[],
			"add_pinhole " + proto
		)
		added_usec[proto] = Time.get_ticks_usec()
		print(
			(
				"     add_pinhole %s: id %d in %.2f ms"
				% [proto, ids[proto], (added_usec[proto] - started) / 1000.0]
			)
		)
		check(ids[proto] >= 0, "add_pinhole %s returns an id: %d" % [proto, ids[proto]])
	check(ids.UDP != ids.TCP, "two pinholes, two ids")
	for proto in PROTOCOLS:
		var rules := _rules_for(internal_port, proto)
		if check_eq(rules.size(), 1, "%s pinhole rules: %s" % [proto, _pinhole_rules()]):
			check_eq(rules[0].id, ids[proto], proto + ": the rule's id is the one returned")
			var left := _seconds_left(rules[0])
			check(
				left >= 590 and left <= 600,
				"%s: the rule expires in %d s (lease 600)" % [proto, left]
			)
	_go(probe)
	var report := await _finish_probe(listener, probe)
	_check_forwarding(report, true, "through the pinholes")
	_print_times("pinhole (add_pinhole)", report, added_usec, probe)

	# Added again: miniupnpd renews it under the same id.
	check_eq(
		gateway.add_pinhole("", 0, client6, internal_port, "UDP", 600), ids.UDP, "the same again"
	)
	check_eq(
		expect_errors(func(): return gateway.update_pinhole(ids.UDP, 3000), [], "update_pinhole"),
		0,
		"update_pinhole"
	)
	var renewed := _rules_for(internal_port, "UDP")
	if check_eq(renewed.size(), 1, "the UDP rule after update_pinhole"):
		var left := _seconds_left(renewed[0])
		check(left >= 2990 and left <= 3000, "update_pinhole moved the expiry: %d s left" % left)

	for proto in PROTOCOLS:
		check_eq(
			expect_errors(func(): return gateway.delete_pinhole(ids[proto]), [], "delete " + proto),
			0,
			"delete_pinhole " + proto
		)
		check_eq(
			_rules_for(internal_port, proto).size(), 0, proto + ": no rule after delete_pinhole"
		)
	_check_dropped(await _probe(listener, internal_port, 1, client6), "after delete_pinhole")
	# The router no longer knows the id: miniupnpd answers 402 (Invalid Args).
	check_eq(
		expect_errors(
			func(): return gateway.delete_pinhole(ids.UDP), ["Couldn't delete pinhole."], "again"
		),
		upnp_const("UPNP_RESULT_INVALID_ARGS"),
		"delete_pinhole of a deleted id"
	)
	listener.close()


## Over IPv4 the router cannot tell which IPv6 address is ours: no default internal
## client; and given one, a router in secure mode refuses (606).
func test_a_device_found_over_ipv4() -> void:
	var upnp := new_upnp()
	check_eq(upnp.discover(1000), 0, "discover() over IPv4")
	var gateway = upnp.get_gateway()
	if not check(gateway != null, "a gateway found over IPv4"):
		return
	check_eq(
		expect_errors(
			func(): return gateway.add_pinhole("", 0, "", port(1)),
			[
				(
					"Couldn't add pinhole. The router sees this computer as %s"
					% bed_value("IGD_CLIENT_IP")
				)
			],
			"no default client over IPv4"
		),
		_failed("UPNP_RESULT_INVALID_ARGS"),
		"add_pinhole with no internal client over IPv4"
	)
	check_eq(
		expect_errors(
			func(): return gateway.add_pinhole("", 0, bed_value("IGD_CLIENT_IP6"), port(1)),
			["Couldn't add pinhole."],
			"asked over IPv4"
		),
		_failed("UPNP_RESULT_NOT_AUTHORIZED"),
		"add_pinhole asked over IPv4 (miniupnpd's secure mode: 606)"
	)
	check_eq(_rules_for(port(1), "UDP").size(), 0, "no pinhole rule")


func test_bad_input_gives_the_documented_codes_and_one_line() -> void:
	var gateway := _gateway6()
	if gateway == null:
		return
	var client6 := bed_value("IGD_CLIENT_IP6")
	var p := port(2)
	var address := "The remote host must be an IPv6 address"
	var client := "The internal client must be one IPv6 address"
	var cases := [
		[
			"remote host IPv4",
			func(): return gateway.add_pinhole("10.78.0.1", 0, client6, p),
			"INVALID_ARGS",
			address
		],
		[
			"remote host text",
			func(): return gateway.add_pinhole("router", 0, client6, p),
			"INVALID_ARGS",
			address
		],
		[
			"client IPv4",
			func(): return gateway.add_pinhole("", 0, "10.77.0.2", p),
			"INVALID_ARGS",
			client
		],
		["client ::", func(): return gateway.add_pinhole("", 0, "::", p), "INVALID_ARGS", client],
		[
			"client multicast",
			func(): return gateway.add_pinhole("", 0, "ff02::1", p),
			"INVALID_ARGS",
			client
		],
		["client text", func(): return gateway.add_pinhole("", 0, "me", p), "INVALID_ARGS", client],
		[
			"remote port -1",
			func(): return gateway.add_pinhole("", -1, client6, p),
			"INVALID_PORT",
			"remote port"
		],
		[
			"remote port 65536",
			func(): return gateway.add_pinhole("", 65536, client6, p),
			"INVALID_PORT",
			"remote port"
		],
		[
			"internal port 0",
			func(): return gateway.add_pinhole("", 0, client6, 0),
			"INVALID_PORT",
			"internal port"
		],
		[
			"internal port 65536",
			func(): return gateway.add_pinhole("", 0, "", 65536),
			"INVALID_PORT",
			"internal port"
		],
		[
			"proto X",
			func(): return gateway.add_pinhole("", 0, "", p, "X"),
			"INVALID_PROTOCOL",
			"TCP or UDP"
		],
		[
			"proto udp",
			func(): return gateway.add_pinhole("", 0, client6, p, "udp"),
			"INVALID_PROTOCOL",
			"TCP or UDP"
		],
		[
			"lease 0",
			func(): return gateway.add_pinhole("", 0, "", p, "UDP", 0),
			"INVALID_DURATION",
			"lease"
		],
		[
			"lease 86401",
			func(): return gateway.add_pinhole("", 0, client6, p, "UDP", 86401),
			"INVALID_DURATION",
			"lease"
		],
	]
	for entry in cases:
		var got = expect_errors(entry[1], [entry[3]], entry[0])
		check_eq(got, _failed("UPNP_RESULT_" + entry[2]), "add_pinhole, " + entry[0])
	var id := "The pinhole id must be a number between 0 and 65535"
	var lease := "lease must be set between 1 and 86400"
	var result_cases := [
		["update id -1", func(): return gateway.update_pinhole(-1, 60), "INVALID_ARGS", id],
		["update id 70000", func(): return gateway.update_pinhole(70000, 60), "INVALID_ARGS", id],
		["update lease 0", func(): return gateway.update_pinhole(1, 0), "INVALID_DURATION", lease],
		[
			"update lease 86401",
			func(): return gateway.update_pinhole(1, 86401),
			"INVALID_DURATION",
			lease
		],
		["delete id -1", func(): return gateway.delete_pinhole(-1), "INVALID_ARGS", id],
		["delete id 70000", func(): return gateway.delete_pinhole(70000), "INVALID_ARGS", id],
		# Valid, but the router holds no such pinhole (miniupnpd: 402).
		[
			"update unknown id",
			func(): return gateway.update_pinhole(65000, 60),
			"INVALID_ARGS",
			"Couldn't update pinhole."
		],
	]
	for entry in result_cases:
		var got = expect_errors(entry[1], [entry[3]], entry[0])
		check_eq(got, upnp_const("UPNP_RESULT_" + entry[2]), entry[0])
	for proto in PROTOCOLS:
		check_eq(_rules_for(p, proto).size(), 0, "no %s pinhole rule after bad input" % proto)


## How many pinholes for `p` the router's daemon added since its last restart (its log:
## the rules of the old daemon's pinholes are flushed by the restart, so the rules alone
## cannot tell new from old).
func _added_since_restart(p: int) -> int:
	var log := FileAccess.get_file_as_string(bed_value("IGD_STATE_DIR").path_join("miniupnpd.log"))
	var since := log.get_slice("=== igd-restart.sh", log.get_slice_count("=== igd-restart.sh") - 1)
	return since.count(
		"AddPinhole: (inbound) from []:0 to [%s]:%d " % [bed_value("IGD_CLIENT_IP6"), p]
	)


func test_the_port_mapper_opens_pinholes_until_stop() -> void:
	var p := port(10)
	var client6 := bed_value("IGD_CLIENT_IP6")
	var run := await _start_pinholes(p, UPNP_PINHOLE)
	var node: Node = run.node
	var seen: Dictionary = run.seen
	_check_reported(run, client6, p, UPNP_PINHOLE)
	# Each pinhole's handler already read it in the status line; IPv4 stays as it was.
	for entry in seen.status_at:
		if entry[0] == "port_mapped" and client6 in entry[2]:
			check_eq(entry[1], node.STATUS_MAPPED, "status inside a pinhole's port_mapped")
	check_eq(node.get_status(), node.STATUS_MAPPED, "status")
	check_eq(
		node.get_status_text(),
		(
			"UDP %d, TCP %d open on %s (UPnP); IPv6 %s open (UPnP pinholes)"
			% [p, p, bed_value("IGD_EXT_IP"), client6]
		),
		"status text"
	)
	check_eq(node.get_external_address(), bed_value("IGD_EXT_IP"), "external address (IPv4)")
	check_eq(node.get_mapped_port("UDP"), p, "mapped port (IPv4)")
	_check_rules(p, 1, "running")
	_check_forwarding(await _probe(run.listener, p, 3, client6), true, "to the node's pinholes")
	await _stop_pinholes(run, p, client6)


func test_the_port_mapper_opens_pinholes_again_after_a_router_reboot() -> void:
	var p := port(11)
	var client6 := bed_value("IGD_CLIENT_IP6")
	var run := await _start_pinholes(p, UPNP_PINHOLE)
	var node: Node = run.node
	var pinholes: Dictionary = run.pinholes
	check_eq(pinholes.list.size(), 2, "pinholes before the reboot")
	restart_router({"IGD_CLEAR_LEASES": "1"})
	var rebooted := Time.get_ticks_usec()
	# Found at the next check (every 2 s): the IPv4 mappings are gone, so the pinholes
	# are renewed at once, refused, and added again.
	await _wait_until(func(): return pinholes.list.size() >= 4, 15000)
	check_eq(pinholes.list.size(), 4, "pinholes reported again after the reboot")
	print(
		(
			"     UPNPPortMapper: router reboot -> IPv6 pinholes reported again in %.1f ms"
			% [(Time.get_ticks_usec() - rebooted) / 1000.0]
		)
	)
	_check_rules(p, 1, "opened again")
	check_eq(_added_since_restart(p), 2, "AddPinhole requests the restarted router got")
	_check_forwarding(await _probe(run.listener, p, 3, client6), true, "after the reboot")
	check_eq(node.get_status(), node.STATUS_MAPPED, "status after the reboot")
	await _stop_pinholes(run, p, client6)
