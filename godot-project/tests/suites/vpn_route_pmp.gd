## As vpn_route, with UPnP off on the router (bed IGD_VPN_ROUTE=1 IGD_ENABLE_UPNP=no): the
## default gateway is the VPN's, which speaks no NAT-PMP/PCP; the node probes the LAN
## interface's gateway too and maps by PCP.
extends "res://tests/port_mapper_case.gd"


func test_the_node_maps_by_pcp_at_the_lan_gateway() -> void:
	var node := _mapper(port(2))
	node.protocols = 1
	var seen := _record(node)
	await _start_and_wait(node, seen)
	if check_eq(seen.mapped.size(), 1, "port_mapped"):
		check_eq(seen.mapped[0][3], "PCP", "method")
	check_eq(
		router_leases().get("UDP:%d" % port(2), {}).get("client"),
		bed_value("IGD_CLIENT_IP"),
		"on the router"
	)
	node.free()
