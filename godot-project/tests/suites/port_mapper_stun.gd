## UPNPPortMapper's stun_server against a real STUN server (coturn on the WAN host,
## IGD_STUN=1), on three beds picked by EXPECT: "same" (one router, IGD_FORWARD=1: the
## internet sees the router's own address), "hidden" (IGD_OUTER=hidden: the router's
## address 11.22.33.44 looks public, the router in front NATs again to 22.33.44.55) and
## "none" (IGD_OUTER=private: the router reports no external address and refuses to map).
extends "res://tests/port_mapper_case.gd"

const OUTER_ADDRESS := "22.33.44.55"


func test_the_status_text_carries_the_stun_verdict() -> void:
	var p := port(0)
	var node := _mapper(p)
	node.stun_server = bed_value("IGD_STUN_SERVER")
	var seen := _record(node)
	var external := bed_value("IGD_EXT_IP")
	var expect := str(bed.get("EXPECT", ""))
	var ports := "UDP %d, TCP %d" % [p, p]
	var ms := 0.0
	match expect:
		"same":
			ms = await _start_and_wait(node, seen, 0)
			check_eq(node.get_status(), node.STATUS_MAPPED, "status")
			check_eq(
				node.get_status_text(),
				"%s open on %s (UPnP; a STUN server sees the same address)" % [ports, external],
				"status text"
			)
		"hidden":
			ms = await _start_and_wait(node, seen, 0)
			check_eq(node.get_status(), node.STATUS_MAPPED, "status: the router did map")
			check_eq(
				node.get_status_text(),
				(
					(
						"%s open on the router (UPnP), but a STUN server sees this computer as %s, not as"
						+ " the router's address %s: another NAT is between the router and the"
						+ " internet, so players outside cannot reach this port; ask your provider for"
						+ " a public address, or forward the port on the router in front of yours."
					)
					% [ports, OUTER_ADDRESS, external]
				),
				"status text"
			)
			check(router_leases().has("UDP:%d" % p), "the router holds the UDP mapping")
		"none":
			ms = await _start_and_wait(node, seen, upnp_const("UPNP_RESULT_INVALID_GATEWAY"))
			check_eq(node.get_status(), node.STATUS_FAILED, "status: never a success")
			check_eq(
				node.get_status_text(),
				(
					"The router reports no public address: it is behind carrier-grade NAT or another"
					+ " router, so players outside cannot reach this port; check the router's internet"
					+ (
						(
							" connection, or forward the port on the router in front of it. A STUN server"
							+ " sees this computer as %s."
						)
						% OUTER_ADDRESS
					)
				),
				"status text"
			)
			check_eq(seen.mapped.size(), 0, "no port_mapped")
			check(router_leases().is_empty(), "nothing asked of the router")
		_:
			check(false, "EXPECT must be same, hidden or none, not %s" % expect)
	print(
		"stun (%s): start() -> upnp_completed in %.1f ms: %s" % [expect, ms, node.get_status_text()]
	)
	node.stop()
	await _wait_until(func(): return node.get_status() == node.STATUS_STOPPED, WAIT_MS)
	check(not router_leases().has("UDP:%d" % p), "removed at stop")
	node.free()


func test_a_silent_stun_server_changes_only_the_wait() -> void:
	# Nothing listens on the WAN host's port 3479: the exchange ends at its 1.5 s deadline
	# (an ICMP unreachable may end it sooner), and the line is the one without STUN.
	if str(bed.get("EXPECT", "")) != "same":
		return
	var p := port(1)
	var node := _mapper(p)
	node.stun_server = bed_value("IGD_WAN_HOST_IP") + ":3479"
	var seen := _record(node)
	var ms := await _start_and_wait(node, seen, 0)
	check(ms < 2500.0, "upnp_completed within the STUN deadline: %.1f ms" % ms)
	check_eq(
		node.get_status_text(),
		"UDP %d, TCP %d open on %s (UPnP)" % [p, p, bed_value("IGD_EXT_IP")],
		"status text"
	)
	print("stun (silent server): start() -> upnp_completed in %.1f ms" % ms)
	node.free()
