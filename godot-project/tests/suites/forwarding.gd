## Proof that mappings forward (bed IGD_FORWARD=1, UPnP on): what the WAN host sends to
## external_address:port reaches a listener in this process, over UDP and TCP, while
## UPNPPortMapper or RustUPNP holds the mapping, and is refused by the router when not.
extends "res://tests/forwarding_case.gd"


func test_node_mapping_forwards_until_stop() -> void:
	await _node_forwards_until_stop(port(0), "UPnP")


func test_node_mapping_forwards_again_after_router_reboot() -> void:
	await _node_forwards_again_after_reboot(port(1), "UPnP")


func test_add_port_mapping_forwards_until_delete() -> void:
	var external_port := port(2)
	var listener := _listener(external_port)
	var upnp := new_upnp()
	check_eq(upnp.discover(1000), 0, "discover()")
	var probe := await _launch_probe(external_port, 3)
	var added_usec := {}
	for proto in PROTOCOLS:
		var code: int = upnp.add_port_mapping(external_port, external_port, "gd fwd", proto, 3600)
		added_usec[proto] = Time.get_ticks_usec()
		check_eq(code, 0, "add_port_mapping " + proto)
	_go(probe)
	var report := await _finish_probe(listener, probe)
	_check_forwarding(report, true, "added")
	_print_times("forwarding (add_port_mapping)", report, added_usec, probe)
	for proto in PROTOCOLS:
		check_eq(upnp.delete_port_mapping(external_port, proto), 0, "delete_port_mapping " + proto)
	_check_forwarding(await _probe(listener, external_port), false, "deleted")
	listener.close()
