## UPNPPortMapper on a router whose own WAN address is private (bed IGD_EXT_IP=none, the
## carrier-grade NAT case): miniupnpd refuses every mapping (UPnP 501, PCP NO_RESOURCES,
## NAT-PMP NETWORK_FAILURE) and does not disclose the address (GetExternalIPAddress answers
## ""), so the node maps nothing through it (INVALID_GATEWAY, never a success) and the
## status text says the router has no public address.
extends "res://tests/port_mapper_case.gd"


func test_status_text_explains_carrier_grade_nat() -> void:
	var node := _mapper(port(50))
	node.protocols = 1
	var seen := _record(node)
	await _start_and_wait(node, seen, upnp_const("UPNP_RESULT_INVALID_GATEWAY"))
	check_eq(node.get_status(), node.STATUS_FAILED, "status")
	check_eq(
		node.get_status_text(),
		(
			"The router reports no public address: it is behind carrier-grade NAT or another"
			+ " router, so players outside cannot reach this port; check the router's internet"
			+ " connection, or forward the port on the router in front of it."
		),
		"status text"
	)
	check(not router_leases().has("UDP:%d" % port(50)), "nothing mapped")
	node.free()
