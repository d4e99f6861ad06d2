## UPNPPortMapper's IPv6 pinholes by PCP, on a router with UPnP off and NAT-PMP/PCP on (bed
## IGD_ENABLE_UPNP=no): no IPv6 firewall service answers the node's IPv6 search, so it
## asks PCP at the IPv6 default gateway (the test adds one via the router's LAN address,
## as a router advertisement would, and removes it). Both pinholes reported
## ("PCP IPv6 pinhole"), in the router's rules, a datagram and a TCP connection from the
## WAN host to the client's IPv6 address arriving until stop(), which deletes them.
extends "res://tests/pinhole_case.gd"

## The router's LAN address (igd-up.sh).
const ROUTER6 := "fd77::1"


func _default_route6(action: String) -> int:
	return OS.execute("ip", ["-6", "route", action, "default", "via", ROUTER6])


func test_pcp_pinholes_until_stop() -> void:
	check_eq(bed_value("IGD_ENABLE_UPNP"), "no", "a bed with UPnP off")
	if not check_eq(_default_route6("add"), 0, "an IPv6 default route via the router"):
		return
	var p := port(0)
	var client6 := bed_value("IGD_CLIENT_IP6")
	# Nothing answers the IPv6 search: the lookup waits discover_timeout before asking PCP.
	var run := await _start_pinholes(p, PCP_PINHOLE, 500)
	var node: Node = run.node
	_check_reported(run, client6, p, PCP_PINHOLE)
	check_eq(
		node.get_status_text(),
		(
			"UDP %d, TCP %d open on %s (PCP); IPv6 %s open (PCP pinholes)"
			% [p, p, bed_value("IGD_EXT_IP"), client6]
		),
		"status text"
	)
	_check_rules(p, 1, "running")
	_check_forwarding(await _probe(run.listener, p, 3, client6), true, "to the node's PCP pinholes")
	await _stop_pinholes(run, p, client6)
	check_eq(_default_route6("del"), 0, "the IPv6 default route removed")
