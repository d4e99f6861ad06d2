## Routers whose IPv6 firewall lets no pinhole be made, end to end through Godot:
## igd-sim's profiles v6-firewall-off (GetFirewallStatus: FirewallEnabled 0; pinhole
## actions 702 FirewallDisabled) and v6-inbound-disallowed (InboundPinholeAllowed 0; 703
## InboundPinholeNotAllowed), answered as miniupnpd's CheckStatus does
## (tests/igd-sim/src/spec.rs, Ipv6Firewall). The bed's miniupnpd 2.3.1 cannot be set up
## to say either (no option sets its IPV6FCFWDISABLEDMASK or IPV6FCINBOUNDDISALLOWEDMASK
## flags), so the simulator is the router: dual-stack, on the bed's router addresses
## (lan0 in the router namespace, igd-sim --address6), on the bed where no router daemon
## runs (tests/godot/run.sh's profiles bed), so that the node's IPv4 and IPv6 searches
## both find it where a real router would answer.
extends "res://tests/sim_case.gd"


## The router's IPv6 address on the bed's LAN (fd77::1, the host of IGD_ROOTDESC6).
func _router_ipv6() -> String:
	return bed_value("IGD_ROOTDESC6").get_slice("[", 1).get_slice("]", 0)


## A router whose IPv6 firewall lets no pinhole be made (igd-sim's profiles, answered as
## miniupnpd's CheckStatus does; the bed's miniupnpd cannot be set up to say either), a
## dual-stack router on the bed's addresses (10.77.0.1 and fd77::1 on lan0, in the router
## namespace). RustUPNP finds its IPv6 side by an IPv6 search: get_firewall_status()
## says what the profile says, add_pinhole() returns -ACTION_FAILED with one error line
## naming the router's code, update_pinhole() and delete_pinhole() ACTION_FAILED with
## that line too. UPNPPortMapper with ipv6 maps IPv4 as ever (STATUS_MAPPED,
## port_mapped for UDP and TCP only), opens no pinhole and says why in its status text;
## over 3 s of checks every 0.5 s no further signal, no error line, no pinhole request
## and no second firewall lookup. `expect`: "enabled", "allowed" (the status), "code",
## "name" (the router's fault), "text" (the status text's IPv6 part).
func _ipv6_firewall(profile: String, expect: Dictionary) -> void:
	var args := ["--profile", profile, "--address6", _router_ipv6()]
	var sim := await _start_sim(args, bed_value("IGD_GATEWAY"))
	if sim.pid == 0:
		return
	var upnp := new_upnp()
	upnp.discover_ipv6 = true
	check_eq(upnp.discover(500), upnp_const("UPNP_RESULT_SUCCESS"), "discover(500) over IPv6")
	var gateway: RefCounted = upnp.get_gateway()
	var fault := "UPnP error %d (%s)" % [expect.code, expect.name]
	if check(gateway != null, "a gateway among %d devices" % upnp.get_device_count()):
		check_eq(gateway.description_url, sim.location(1), "the router's IPv6 side")
		var status = expect_errors(gateway.get_firewall_status, [], "get_firewall_status")
		var wanted := {
			"result": 0, "enabled": expect.enabled, "inbound_pinhole_allowed": expect.allowed
		}
		check_eq(status, wanted, "get_firewall_status()")
		log_capture.take()
		var code = gateway.add_pinhole("", 0, "", port(4), "UDP", 3600)
		var lines := _lines()
		check_eq(code, -upnp_const("UPNP_RESULT_ACTION_FAILED"), "add_pinhole()")
		check(
			lines.size() == 1 and fault in lines[0], "one error line with %s: %s" % [fault, lines]
		)
		await _wait_until(func(): return sim.soap("AddPinhole").size() >= 1, 2000)
		var clients := sim.soap("AddPinhole").map(func(r): return r.InternalClient)
		check_eq(clients, [bed_value("IGD_CLIENT_IP6")], "the router was asked, for our address")
		var failed := upnp_const("UPNP_RESULT_ACTION_FAILED")
		var update = expect_errors(gateway.update_pinhole.bind(3, 60), [fault], "update_pinhole")
		check_eq(update, failed, "update_pinhole()")
		var delete = expect_errors(gateway.delete_pinhole.bind(3), [fault], "delete_pinhole")
		check_eq(delete, failed, "delete_pinhole()")
		print(
			(
				"     %s: get_firewall_status() %s, add_pinhole() %d, error line: %s"
				% [profile, status, code, lines[0] if lines.size() == 1 else lines]
			)
		)
	DirAccess.remove_absolute("user://upnp_port_mapper_gateway.txt")
	var node := _mapper(port(5))
	node.ipv6 = true
	node.allow_nat_pmp = false
	node.discover_timeout = 1000
	node.refresh_interval = 0.5
	var seen := _record(node)
	var started := Time.get_ticks_usec()
	var after: float = await _start_and_wait(node, seen)
	var line := "UDP %d, TCP %d open on %s (UPnP); %s" % [port(5), port(5), EXTERNAL, expect.text]
	await _wait_until(func(): return node.get_status_text() == line, 3000)
	var shown := (Time.get_ticks_usec() - started) / 1000.0
	check_eq(node.get_status_text(), line, "status text")
	check_eq(node.get_status(), node.STATUS_MAPPED, "status: IPv4 mapped")
	await _wait_until(func(): return seen.mapped.size() >= 2, 2000)
	var signals: Array = seen.order.duplicate()
	var lookups := sim.soap("GetFirewallStatus").size()
	var checks := sim.soap("GetSpecificPortMappingEntry").size()
	await (Engine.get_main_loop() as SceneTree).create_timer(3.0).timeout
	check_eq(seen.order, signals, "no signal over 3 s of checks")
	check(sim.soap("GetSpecificPortMappingEntry").size() >= checks + 4, "the node kept checking")
	check_eq(sim.soap("GetFirewallStatus").size(), lookups, "no second firewall lookup")
	check_eq(sim.soap("AddPinhole").size(), 1, "the node asked for no pinhole")
	check_eq(_lines(), PackedStringArray(), "no error line")
	var mapped: Array = seen.mapped.map(func(m): return "%s:%d %s" % [m[0], m[1], m[2]])
	mapped.sort()
	check_eq(
		mapped,
		["%s:%d TCP" % [EXTERNAL, port(5)], "%s:%d UDP" % [EXTERNAL, port(5)]],
		"port_mapped"
	)
	check_eq(node.get_status_text(), line, "status text after the checks")
	check_eq(node.get_status(), node.STATUS_MAPPED, "status after the checks")
	print(
		(
			(
				"     %s: UPNPPortMapper upnp_completed in %.1f ms, the IPv6 part after"
				+ " %.1f ms, signals %s, %d checks in 3 s: %s"
			)
			% [
				profile,
				after,
				shown,
				signals,
				sim.soap("GetSpecificPortMappingEntry").size() - checks,
				line
			]
		)
	)
	node.stop()
	var removed := await _wait_table(sim, func(t): return _ours(t, "gd mapper").is_empty())
	check(removed, "stop() removed the node's mappings: %s" % sim.table())
	node.free()
	await _stop_sim(sim)


func test_ipv6_firewall_off() -> void:
	var expect := {
		"enabled": false,
		"allowed": true,
		"code": 702,
		"name": "FirewallDisabled",
		"text": "IPv6 open (router firewall off)",
	}
	await _ipv6_firewall("v6-firewall-off", expect)


func test_ipv6_inbound_pinholes_not_allowed() -> void:
	var expect := {
		"enabled": true,
		"allowed": false,
		"code": 703,
		"name": "InboundPinholeNotAllowed",
		"text": "IPv6: the router allows no pinholes",
	}
	await _ipv6_firewall("v6-inbound-disallowed", expect)
