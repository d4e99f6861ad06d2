## A VPN client holds the default route, and with it multicast, while the router is on the
## LAN interface (bed IGD_VPN_ROUTE=1): the classes and the node find the router on c0
## without being told and map through it. The engine sends its search into the VPN.
extends "res://tests/port_mapper_case.gd"


func test_the_classes_find_the_router_and_map() -> void:
	var upnp := new_upnp()
	check_eq(upnp.discover(1500), 0, "discover()")
	var gateway: RefCounted = upnp.get_gateway()
	if not check(gateway != null, "a gateway"):
		return
	check_eq(gateway.description_url, bed_value("IGD_ROOTDESC"), "description_url")
	check_eq(gateway.igd_our_addr, bed_value("IGD_CLIENT_IP"), "igd_our_addr")
	check_eq(upnp.add_port_mapping(port(0), 0, "vpn", "UDP", 600), 0, "add_port_mapping")
	check_eq(
		router_leases().get("UDP:%d" % port(0), {}).get("client"),
		bed_value("IGD_CLIENT_IP"),
		"on the router"
	)
	check_eq(upnp.delete_port_mapping(port(0), "UDP"), 0, "delete_port_mapping")
	check(not router_leases().has("UDP:%d" % port(0)), "deleted")


func test_the_node_maps_both_protocols() -> void:
	# A cold start: no remembered gateway to go to directly.
	DirAccess.remove_absolute("user://upnp_port_mapper_gateway.txt")
	var node := _mapper(port(1))
	var seen := _record(node)
	var took := await _start_and_wait(node, seen)
	print("     vpn_route: start() -> upnp_completed in %.1f ms" % took)
	check_eq(node.get_status(), node.STATUS_MAPPED, "status")
	for proto in ["UDP", "TCP"]:
		check_eq(
			router_leases().get("%s:%d" % [proto, port(1)], {}).get("client"),
			bed_value("IGD_CLIENT_IP"),
			proto + " on the router"
		)
	node.free()
